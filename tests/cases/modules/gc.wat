(module (type $s (struct (field i32))) (func (export "_start") (drop (struct.new $s (i32.const 1)))))
