;; A WASI preview1 command that uses two granted folders, in the order the
;; manifest grants them: the first (read-only) holds "in.txt", which it
;; prints; into the second (read-write) it writes "out.txt". It then tries to
;; create a file in the read-only folder and reports the WASI errno of each
;; write (0 means it succeeded). Exits 0 when the read and the allowed write
;; worked, 1 otherwise.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0: opened fd, 16: iovec, 32: bytes written, 40: bytes read, 64.. texts,
  ;; 4096: read buffer
  (data (i32.const 64) "in.txt")
  (data (i32.const 80) "out.txt")
  (data (i32.const 96) "denied.txt")
  (data (i32.const 112) "written by wasm\n")
  (data (i32.const 128) "read ")
  (data (i32.const 136) "write-rw ")
  (data (i32.const 152) "write-ro ")
  (data (i32.const 168) "\n")
  (data (i32.const 176) "0123456789")

  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 16) (local.get $ptr))
    (i32.store (i32.const 20) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32))))

  (func $number (param $n i32)
    (if (i32.ge_u (local.get $n) (i32.const 10))
      (then (call $out (i32.add (i32.const 176) (i32.div_u (local.get $n) (i32.const 10))) (i32.const 1))))
    (call $out (i32.add (i32.const 176) (i32.rem_u (local.get $n) (i32.const 10))) (i32.const 1))
    (call $out (i32.const 168) (i32.const 1)))

  ;; Create (truncate) $name in $dir and write the fixed text; returns errno.
  (func $write_file (param $dir i32) (param $name i32) (param $len i32) (result i32)
    (local $err i32)
    (local.set $err (call $path_open (local.get $dir) (i32.const 0) (local.get $name) (local.get $len)
      (i32.const 9) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $err) (then (return (local.get $err))))
    (i32.store (i32.const 16) (i32.const 112))
    (i32.store (i32.const 20) (i32.const 16))
    (local.set $err (call $fd_write (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 32)))
    (drop (call $fd_close (i32.load (i32.const 0))))
    (local.get $err))

  (func (export "_start")
    (local $err i32) (local $rw i32)
    ;; read in.txt from the first folder
    (local.set $err (call $path_open (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 6)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0)))
    (if (local.get $err) (then (call $out (i32.const 128) (i32.const 5)) (call $number (local.get $err)) (call $proc_exit (i32.const 1))))
    (i32.store (i32.const 16) (i32.const 4096))
    (i32.store (i32.const 20) (i32.const 4096))
    (drop (call $fd_read (i32.load (i32.const 0)) (i32.const 16) (i32.const 1) (i32.const 40)))
    (call $out (i32.const 128) (i32.const 5))
    (call $out (i32.const 4096) (i32.load (i32.const 40)))
    ;; write into the second folder (allowed) and the first (denied)
    (local.set $rw (call $write_file (i32.const 4) (i32.const 80) (i32.const 7)))
    (call $out (i32.const 136) (i32.const 9))
    (call $number (local.get $rw))
    (call $out (i32.const 152) (i32.const 9))
    (call $number (call $write_file (i32.const 3) (i32.const 96) (i32.const 10)))
    (if (local.get $rw) (then (call $proc_exit (i32.const 1)))))
)
