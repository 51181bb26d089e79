//! A WASI 0.2 command built by the tests with rustc's `wasm32-wasip2`
//! target (std's TcpStream over wasi:sockets): connects to each
//! `ADDRESS:PORT` argument and prints "ok ADDR" or "refused ADDR: ERROR".
use std::net::{SocketAddr, TcpStream};

fn main() {
    for a in std::env::args().skip(1) {
        let addr: SocketAddr = a.parse().expect("ADDRESS:PORT");
        match TcpStream::connect(addr) {
            Ok(_) => println!("ok {a}"),
            Err(e) => println!("refused {a}: {e}"),
        }
    }
}
