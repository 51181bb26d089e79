(module (func $f (export "_start") (call $nope)))
