//! `render`: the fragment on stdout, or the units and the fragment in a
//! folder (`--out`), or the Ignition config.

use super::{rendered, to_stdout};
use crate::cli::args::RenderArgs;
use crate::error::{Error, Exit};
use crate::{render, write};

pub fn render_cmd(args: &RenderArgs) -> Result<Exit, Error> {
    let out = rendered(&args.request()?)?;
    let in_manifest = |e: render::error::RenderError| Error::Render {
        manifest: args.manifest.clone(),
        source: e,
    };
    let budget = out.budget();
    // The process ends here: what is left of the render is not freed
    // (freeing thousands of apps string by string would cost more than
    // everything but parsing).
    match &args.out {
        None if args.ignition => {
            to_stdout(&out.ignition().map_err(in_manifest)?)?;
            std::mem::forget(out);
        }
        None => {
            write::stdout::all_or_nothing(|w| out.write_butane(w).map(drop))?;
            std::mem::forget(out);
        }
        Some(dir) => {
            if let Some(why) = crate::plan::out_folder::refusal(out.plan(), &args.manifest, dir) {
                return Err(Error::Usage(why));
            }
            let files = out.into_out_files(args.ignition).map_err(in_manifest)?;
            let r = write::write_dir(dir, &files)?;
            crate::say!("wasmunit: {}: {}", dir.display(), r.summary());
            std::mem::forget(files);
        }
    }
    crate::say_raw!("{}", budget.report());
    Ok(Exit::Success)
}
