//! The integration tests, one test binary: `cargo test --test all` runs
//! them, `cargo test --test all NAME` those whose path holds NAME (a test,
//! or a module: `first_boot::egress`, `hostile`). Each file below was a
//! binary of its own, and each of those 14 linked the library and
//! `tests/common` again; as modules of one they link once
//! (`golden`, tests/golden.rs, stays its own: it has its own harness).
//!
//! They share one process, two tests at a time (`--test-threads=2`): a test
//! changes nothing the process holds (environment variables, the current
//! folder, the umask, signal dispositions, the colour choice of
//! `wasmunit::style`); a child process gets its own (`Command::env`,
//! `Command::current_dir`).
//!
//! By tier, what runs each:
//! - `escape_props`, `module_graph`: the library and the source alone;
//! - `cli`, `hostile`, `conventions`: the real binary;
//! - `bundle`: the real binary, squashfs-tools and `systemd-analyze`;
//! - `wasmtime_cli`, `check_cli`: the real wasmtime CLIs;
//! - `butane`: the real Butane and Ignition;
//! - `systemd_analyze`, `node_map`: systemd's own tools, the Debian trees;
//! - `systemd_oracle`, `real_systemd`, `live_host`: a real systemd manager
//!   (PID 1 in a container, tests/common/container.rs);
//! - `first_boot`: a node's first boot through Butane, Ignition and a
//!   sysext merge, one module per scenario.
//!
//! By feature (golden cases are `tests/cases/NAME.toml`):
//! - egress: `first_boot::egress`, `hostile::outbound_apps_cannot_listen_at_all`,
//!   `hostile::an_ipv4_mapped_egress_entry_is_refused_with_its_ipv4_form`,
//!   `real_systemd::an_outbound_app_cannot_listen_even_without_binding_first`;
//!   `cases/egress`, `cases/err-egress`, `cases/network-outbound`;
//! - pins: `first_boot::pins`, `live_host::apply_of_a_changed_pin_restarts_only_that_app`,
//!   `hostile::a_pinned_image_url_is_https_or_names_its_hash`,
//!   `hostile::a_pinned_image_is_read_only_as_a_regular_file_below_the_manifest`,
//!   `hostile::a_pinned_app_hands_no_folder_through_a_privileged_step`,
//!   `hostile::a_cut_image_or_a_second_architecture_line_is_refused`;
//!   `cases/pin`, `cases/sysext-pinned`, `cases/err-pin`;
//! - credentials: `first_boot::credentials`; `cases/credentials`,
//!   `cases/credentials-import`, `cases/err-credentials`;
//! - static identity: `first_boot::identity`,
//!   `live_host::apply_creates_a_static_identity_and_its_folder`,
//!   `live_host::remove_deletes_identity_files_so_the_next_boot_creates_nothing`,
//!   `live_host::an_app_leaving_the_manifest_loses_its_identity_files`;
//!   `cases/identity`, `cases/err-identity`;
//! - sysext updates and wasmtime ranges: `first_boot::sysext_updates`,
//!   `real_systemd::a_unit_outside_its_wasmtime_range_is_skipped_once_with_a_message`,
//!   `check_cli::a_range_is_judged_at_both_ends`; `cases/range`, `cases/sysext`;
//! - systemd releases: `first_boot::systemd_257`, the `_262` first boots
//!   and `systemd_oracle::systemd_262_reads_back_what_every_golden_manifest_says`,
//!   `systemd_analyze::units_for_systemd_257_pass_its_own_verify_and_security`,
//!   `systemd_oracle`, `node_map`, `conventions::every_stated_range_of_releases_is_the_codes`;
//!   `cases/systemd-257`;
//! - grants (default deny): `hostile::a_read_write_grant_reaches_only_where_the_users_data_lives`,
//!   `hostile::a_raw_table_cannot_widen_an_app`,
//!   `hostile::a_read_only_grant_never_re_modes_a_folder_the_node_has`, `node_map`;
//!   `cases/err-os-folders`, `cases/err-rw-dirs`, `cases/err-raw`;
//! - `check`: `check_cli`, `hostile::check_sees_a_module_rewritten_with_the_same_size_and_mtime`,
//!   `hostile::check_refuses_what_the_cli_refuses_when_it_instantiates`,
//!   `hostile::check_refuses_an_initialize_or_entry_the_cli_would_not_call`;
//! - `render --out` (ownership, atomic writes, the lock): `cli`,
//!   `hostile::a_link_in_any_component_below_the_manifest_folder_is_refused`,
//!   `hostile::two_renders_into_one_folder_at_once_lose_nothing`,
//!   `hostile::a_second_run_waits_for_the_lock_and_says_so`;
//! - `apply`, `diff`, `status`, `remove`: `live_host`, `real_systemd`,
//!   `hostile::diff_and_status_name_each_kind_of_file_for_what_it_is`;
//! - HTTP apps (`listen`, `idle`): `first_boot::http` (the componentize-js
//!   handler through the socket: wasmtime 31 on 252, 257 and 262, 50 on
//!   257; load across restarts and an update),
//!   `check_cli::only_wasmtime_50_serve_takes_the_socket`,
//!   `systemd_analyze::an_http_apps_exposure_on_252_257_and_262`,
//!   `bundle::a_servers_socket_has_its_own_line_in_the_index`,
//!   `live_host::a_port_passes_from_a_socket_to_its_app_and_back`; `cases/serve`,
//!   `cases/serve-idle`, `cases/serve-50`, `cases/serve-outbound`,
//!   `cases/err-listen-idle`, `cases/err-listen-ports`;
//! - fleets (`bundle`, `fleet`): `first_boot::bundles` (the real
//!   systemd-sysupdate on 257 and 262), `bundle`;
//! - the fragment and Ignition: `butane`, `first_boot::example`, `first_boot::fleet`;
//! - unit syntax: `escape_props`, `systemd_oracle`, `systemd_analyze`, `wasmtime_cli`;
//! - generated docs, schema, completions, man pages: `conventions`, `module_graph`.

#[path = "../common/mod.rs"]
mod common;

mod bundle;
mod butane;
mod check_cli;
mod cli;
mod conventions;
mod escape_props;
mod first_boot;
mod hostile;
mod live_host;
mod module_graph;
mod node_map;
mod real_systemd;
mod systemd_analyze;
mod systemd_oracle;
mod wasmtime_cli;

/// The index above is true: every test path (`module::name`) and golden
/// case it names exists, and it names every module, so a renamed, moved or
/// new test file cannot leave it pointing nowhere.
#[test]
fn the_index_names_every_module_and_only_what_exists() {
    let root = common::repo();
    let text = std::fs::read_to_string(root.join("tests/all/main.rs")).expect("main.rs");
    let doc: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let spans: Vec<&str> = doc.split('`').skip(1).step_by(2).collect();
    let is_path = |s: &str| {
        s.split("::").count() > 1
            && !s.starts_with("wasmunit::")
            && s.split("::").all(|seg| {
                !seg.is_empty()
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            })
    };
    let mut missing: Vec<String> = Vec::new();
    let mut checked = 0;
    for span in &spans {
        let found = if let Some(case) = span.strip_prefix("cases/") {
            root.join(format!("tests/cases/{case}.toml")).is_file()
        } else if is_path(span) {
            test_path_exists(&root.join("tests/all"), span)
        } else {
            continue;
        };
        checked += 1;
        if !found {
            missing.push((*span).to_owned());
        }
    }
    for module in text
        .lines()
        .filter_map(|l| l.strip_prefix("mod ")?.strip_suffix(';'))
    {
        if module != "common" && !spans.contains(&module) {
            missing.push(format!("{module} (a module the index does not name)"));
        }
    }
    assert!(
        missing.is_empty(),
        "tests/all/main.rs's index is stale: {missing:?}"
    );
    assert!(checked > 40, "the index was read ({checked} names)");
}

/// `a::b::c`: `a` and `b` modules (files below `dir`), `c` a module or a
/// name in `b`'s file.
fn test_path_exists(dir: &std::path::Path, path: &str) -> bool {
    let mut folder = dir.to_path_buf();
    let mut file: Option<std::path::PathBuf> = None;
    let segments: Vec<&str> = path.split("::").collect();
    for (i, seg) in segments.iter().enumerate() {
        let module = folder.join(format!("{seg}.rs"));
        if module.is_file() {
            folder = folder.join(seg);
            file = Some(module);
            continue;
        }
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        return i + 1 == segments.len()
            && file.is_some_and(|f| {
                let text = std::fs::read_to_string(f).expect("module");
                text.match_indices(seg).any(|(at, _)| {
                    !ident(text[..at].chars().next_back())
                        && !ident(text[at + seg.len()..].chars().next())
                })
            });
    }
    true
}
