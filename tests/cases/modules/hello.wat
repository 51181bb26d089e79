;; A WASI preview1 command: prints "hello from wasm:" followed by its
;; arguments and the value of $GREETING, then exits 0.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  ;; 0: count, 4: buffer size, 16: iovec, 32: nwritten,
  ;; 64: text, 1024: pointers, 8192: string buffer (up to 120 KiB)
  (data (i32.const 64) "hello from wasm:")
  (data (i32.const 96) " ")
  (data (i32.const 100) "\n")
  (data (i32.const 104) "GREETING=")

  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 16) (local.get $ptr))
    (i32.store (i32.const 20) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32))))

  (func $strlen (param $p i32) (result i32)
    (local $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $p) (local.get $n)))))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $n))

  ;; Does the NUL-terminated string at $p start with the 9 bytes "GREETING="?
  (func $is_greeting (param $p i32) (result i32)
    (local $i i32)
    (block $no
      (loop $next
        (br_if $no (i32.ne (i32.load8_u (i32.add (local.get $p) (local.get $i)))
                           (i32.load8_u (i32.add (i32.const 104) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $next (i32.lt_u (local.get $i) (i32.const 9))))
      (return (i32.const 1)))
    (i32.const 0))

  (func (export "_start")
    (local $i i32) (local $p i32) (local $count i32)
    (call $print (i32.const 64) (i32.const 16))
    ;; arguments after argv[0]
    (drop (call $args_sizes_get (i32.const 0) (i32.const 4)))
    (if (i32.gt_u (i32.load (i32.const 4)) (i32.const 120000)) (then (call $proc_exit (i32.const 1))))
    (drop (call $args_get (i32.const 1024) (i32.const 8192)))
    (local.set $count (i32.load (i32.const 0)))
    (local.set $i (i32.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $p (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))))
        (call $print (i32.const 96) (i32.const 1))
        (call $print (local.get $p) (call $strlen (local.get $p)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    ;; the greeting from the environment, if any
    (drop (call $environ_sizes_get (i32.const 0) (i32.const 4)))
    (if (i32.gt_u (i32.load (i32.const 4)) (i32.const 120000)) (then (call $proc_exit (i32.const 1))))
    (drop (call $environ_get (i32.const 1024) (i32.const 8192)))
    (local.set $count (i32.load (i32.const 0)))
    (local.set $i (i32.const 0))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $p (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2)))))
        (if (call $is_greeting (local.get $p))
          (then
            (call $print (i32.const 96) (i32.const 1))
            (call $print (i32.add (local.get $p) (i32.const 9))
                         (i32.sub (call $strlen (local.get $p)) (i32.const 9)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $print (i32.const 100) (i32.const 1)))
)
