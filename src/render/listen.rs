//! What a `listen` app becomes ([`Listener`], decided by the plan). With
//! `network = "none"` the port belongs
//! to a socket unit (`wasm-APP.socket`), bound by the manager, and the app
//! runs in a network namespace of its own with only a loopback:
//! - wasmtime 50 and later take the socket themselves
//!   ([`Listener::Handover`]): `serve --systemd-listenfd`;
//! - older ones bind `127.0.0.1:PORT` inside that namespace, and
//!   `systemd-socket-proxyd` (`wasm-APP-proxy.service`, in the same
//!   namespace by `JoinsNamespaceOf=`) forwards each connection there
//!   ([`Listener::Proxy`]). The app counts as started only once it listens
//!   ([`ready_script`]), so the proxy forwards into no closed port.
//!
//! Either way connections that arrive while the app restarts wait in the
//! socket's backlog. An app with a network grant binds its own port as
//! before ([`Listener::OwnPort`]).

use std::net::{Ipv4Addr, SocketAddr};

use super::error::RenderError;
use super::sandbox;
pub use crate::plan::Listener;
use crate::plan::{AppKind, AppPlan};
use crate::releases::systemd_release::SystemdVersion;
use crate::unit::escape::{Comment, ExecWord, UnitName, Value};
use crate::unit::file::{Section, UnitFile};
use crate::unit::names::GROUP_TARGET;

/// Where wasmtime listens behind the proxy: on the loopback of the app's
/// own namespace (nothing else is there), the same port from 1024 up. A
/// new namespace lets no unprivileged process bind below 1024
/// (`net.ipv4.ip_unprivileged_port_start`), so port 80 becomes 8080 and
/// 443 becomes 8443 there.
pub fn inner_addr(addr: SocketAddr) -> SocketAddr {
    let port = addr.port();
    let inner = if port < 1024 {
        port + INNER_OFFSET
    } else {
        port
    };
    SocketAddr::from((Ipv4Addr::LOCALHOST, inner))
}

/// What a port below 1024 becomes inside the namespace: 80 → 8080.
const INNER_OFFSET: u16 = 8000;

/// `wasm-APP.socket`: holds the port from boot, for the proxy or the app.
pub fn socket_unit(
    app: &AppPlan,
    addr: SocketAddr,
    via: Listener,
    header: Vec<Comment>,
) -> UnitFile {
    let mut unit = Section::new("Unit");
    unit.set(
        "Description",
        Value::described(&format!("Port of WebAssembly app {}", app.name)),
    );
    unit.fixed("PartOf", GROUP_TARGET);
    let mut socket = Section::new("Socket");
    socket.comment("The manager binds it: any port, and it stays open while the app restarts.");
    socket.set("ListenStream", Value::socket_address(addr));
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        socket.comment("The address may come up after boot (DHCP): bind it before it exists.");
        socket.fixed("FreeBind", "yes");
    }
    if via == Listener::Proxy {
        socket.set(
            "Service",
            Value::unit_names([&UnitName::new(&app.name.proxy_unit())]),
        );
    }
    let mut install = Section::new("Install");
    install.fixed("WantedBy", GROUP_TARGET);
    UnitFile {
        name: app.name.socket_unit(),
        header,
        sections: vec![unit, socket, install],
    }
}

/// `wasm-APP-proxy.service`: started by the socket, it starts the app (and
/// stops and restarts with it), then forwards into the app's namespace.
pub fn proxy_unit(
    app: &AppPlan,
    addr: SocketAddr,
    target: SystemdVersion,
    header: Vec<Comment>,
) -> Result<UnitFile, RenderError> {
    let service_name = UnitName::new(&app.name.service_unit());
    let socket_name = UnitName::new(&app.name.socket_unit());
    let mut unit = Section::new("Unit");
    unit.set(
        "Description",
        Value::described(&format!(
            "Forwarder of WebAssembly app {}'s port into its network namespace",
            app.name
        )),
    );
    unit.comment("Started, stopped and restarted with the app, after it listens.");
    unit.set("BindsTo", Value::unit_names([&service_name]));
    unit.set("After", Value::unit_names([&service_name, &socket_name]));
    unit.set("Requires", Value::unit_names([&socket_name]));
    unit.set("JoinsNamespaceOf", Value::unit_names([&service_name]));

    let mut s = Section::new("Service");
    // Not notify: 252's proxyd sends no READY=1 (measured: its start never
    // completes, and its idle exit fails it with "protocol").
    s.fixed("Type", "exec");
    let mut argv = vec![ExecWord::program(crate::node::paths::SOCKET_PROXYD)];
    if let AppKind::Serve {
        idle: Some(secs), ..
    } = app.kind
    {
        s.comment("Exits when no connection came for `idle`; the app stops with it.");
        argv.push(
            ExecWord::new(&format!("--exit-idle-time={secs}s"))
                .map_err(RenderError::value(&app.name, "the idle time "))?,
        );
    }
    argv.push(
        ExecWord::new(&inner_addr(addr).to_string())
            .map_err(RenderError::value(&app.name, "the forwarded address "))?,
    );
    s.command("ExecStart", vec![argv]);
    s.comment("Sandbox: it only moves bytes between two sockets.");
    s.fixed("DynamicUser", "yes");
    s.fixed("ProtectSystem", "strict");
    s.fixed("ProtectHome", "yes");
    sandbox::private_and_locked_down(&mut s, target);
    s.fixed("SystemCallErrorNumber", "EPERM");
    s.fixed("MemoryDenyWriteExecute", "yes");
    s.comment("The app's namespace: its loopback, nothing else.");
    s.fixed("PrivateNetwork", "yes");
    s.fixed("RestrictAddressFamilies", "AF_INET");
    s.fixed("IPAddressDeny", "any");
    s.fixed("IPAddressAllow", "localhost");
    s.fixed("SocketBindDeny", "any");
    Ok(UnitFile {
        name: app.name.proxy_unit(),
        header,
        sections: vec![unit, s],
    })
}

/// The app's `ExecStartPost=` behind the proxy: waits until wasmtime
/// listens in its namespace (it compiles first: seconds for a large
/// component), and fails at once if wasmtime exited. `/proc/self/net/tcp`
/// lists this namespace's sockets (`ProcSubset=pid` keeps it); state `0A`
/// is LISTEN.
pub fn ready_script(port: u16) -> String {
    format!(
        "until grep -q ':{port:04X} [0-9A-F]*:[0-9A-F]* 0A ' /proc/self/net/tcp /proc/self/net/tcp6 \
         2>/dev/null; do kill -0 \"$MAINPID\" 2>/dev/null || {{ echo 'wasmunit: wasmtime exited \
         before it listened' >&2; exit 1; }}; sleep 0.1; done"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ready_script_looks_for_the_port_in_hex() {
        let s = ready_script(8080);
        assert!(s.contains(":1F90 "), "{s}");
        assert!(ready_script(80).contains(":0050 "));
    }

    #[test]
    fn behind_the_proxy_wasmtime_listens_on_its_own_loopback() {
        let a: SocketAddr = "[::]:8443".parse().expect("addr");
        assert_eq!(inner_addr(a).to_string(), "127.0.0.1:8443");
        let low: SocketAddr = "0.0.0.0:80".parse().expect("addr");
        assert_eq!(inner_addr(low).to_string(), "127.0.0.1:8080");
    }
}
