//! `bundle` (publish the apps as one versioned sysext image) and `fleet`
//! (the fragment of a node that pulls and runs those images).

use super::{rendered, to_stdout};
use crate::cli::args::{BundleArgs, FleetArgs};
use crate::error::{Error, Exit};
use crate::render::error::RenderError;
use crate::render::{bundle, fleet};
use crate::write;

pub fn bundle_cmd(args: &BundleArgs) -> Result<Exit, Error> {
    let out = rendered(&args.request()?)?;
    if let Some(why) = crate::plan::out_folder::refusal(out.plan(), &args.manifest, &args.out) {
        return Err(Error::Usage(why));
    }
    let in_manifest = |source: RenderError| Error::Render {
        manifest: args.manifest.clone(),
        source,
    };
    let tree = bundle::tree(&out, &args.version, args.arch).map_err(in_manifest)?;
    let bytes = write::squashfs::image_bytes(&tree)
        .map_err(|e| in_manifest(crate::render::error::BundleError::Image(e.to_string()).into()))?;
    let name = bundle::image_name(&args.version, args.arch);
    let size = bytes.len();
    let published = write::site::publish(
        &args.out,
        write::OutFile {
            name: name.clone(),
            bytes,
        },
        args.sign_key.as_deref(),
    )?;
    crate::say!(
        "wasmunit: {}: {name} ({} apps, {size} bytes); {}; SHA256SUMS lists {}",
        args.out.display(),
        out.plan().apps.len(),
        published.write.summary(),
        published.listed.join(" ")
    );
    std::mem::forget(out);
    Ok(Exit::Success)
}

pub fn fleet_cmd(args: &FleetArgs) -> Result<Exit, Error> {
    let public_key =
        match &args.public_key {
            None => None,
            Some(path) => {
                let (root, name) = crate::input::Root::of_file(path)?;
                let bytes = root.open_file(&name)?.read_all(1 << 20)?;
                Some(fleet::PublicKey::new(bytes).map_err(|why| {
                    Error::Usage(format!("--public-key {}: {why}", path.display()))
                })?)
            }
        };
    let url = fleet::FleetUrl::parse(&args.url, public_key.is_some())
        .map_err(|why| Error::Usage(format!("--url: {why}")))?;
    let every = fleet::interval(&args.every)
        .map_err(|why| Error::Usage(format!("--every {}: {why}", args.every.escape_debug())))?;
    let options = fleet::FleetOptions {
        url,
        public_key,
        every,
        survive_secs: args.survive,
        butane: args.butane_version,
    };
    let f = fleet::fragment(&options).map_err(|e| Error::Usage(e.to_string()))?;
    match &args.out {
        None => to_stdout(&f.butane)?,
        Some(dir) => {
            let mut files: Vec<write::OutFile> = f
                .units
                .into_iter()
                .map(|(name, text)| write::OutFile {
                    name,
                    bytes: text.into_bytes(),
                })
                .collect();
            files.push(write::OutFile {
                name: "butane.yaml".to_owned(),
                bytes: f.butane.into_bytes(),
            });
            files.push(write::OutFile {
                name: "wasmunit-fleet.sh".to_owned(),
                bytes: f.script.into_bytes(),
            });
            let r = write::write_dir(dir, &files)?;
            crate::say!("wasmunit: {}: {}", dir.display(), r.summary());
        }
    }
    Ok(Exit::Success)
}
