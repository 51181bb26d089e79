(module (tag $e) (func (export "_start") (block $l (try_table (catch_all $l) (throw $e)))))
