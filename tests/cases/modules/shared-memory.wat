;; Defines a shared memory: wasmtime 48 and later create it only with
;; `-W shared-memory=y`, a flag 31.0.0 rejects.
(module (memory 1 1 shared) (func (export "_start")))
