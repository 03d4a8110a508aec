//! Desktop integration on Linux: Busker as the handler of `busker://` links.
//!
//! [`install`] writes `busker.desktop` into the user's applications folder
//! (`$XDG_DATA_HOME/applications`, by default `~/.local/share/applications`) with
//! `MimeType=x-scheme-handler/busker` and an `Exec` line that runs `busker open --app %u`, and
//! makes it the default for that scheme in `$XDG_CONFIG_HOME/mimeapps.list` (by default
//! `~/.config/mimeapps.list`), keeping every other line of that file. A browser or file manager
//! that opens a `busker://` link then runs the line: the link goes to the running app (through
//! its control API), or starts the app with it. Nothing is written outside the user's own
//! folders, and nothing runs without the user asking (`busker install-desktop`, or the button
//! in Settings).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The MIME type of `busker://` links.
pub const SCHEME_HANDLER: &str = "x-scheme-handler/busker";
/// The file name of the desktop entry.
pub const DESKTOP_FILE: &str = "busker.desktop";

/// Where [`install`] wrote.
#[derive(Debug, Clone)]
pub struct Installed {
    /// The desktop entry.
    pub desktop_file: PathBuf,
    /// The file naming it the default handler.
    pub mimeapps: PathBuf,
}

fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(fallback))
}

/// Quotes one argument of an `Exec` line (the desktop entry specification's rules).
fn quote(arg: &str) -> String {
    let mut out = String::from("\"");
    for c in arg.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    // The entry file's own escaping doubles every backslash once more.
    out.replace('\\', "\\\\")
}

/// The desktop entry that runs `exe` (on `data_dir`, when not the default one) for a link.
pub fn entry(exe: &Path, data_dir: Option<&Path>) -> String {
    let mut exec = quote(&exe.to_string_lossy());
    if let Some(dir) = data_dir {
        exec.push_str(" --data-dir ");
        exec.push_str(&quote(&dir.to_string_lossy()));
    }
    exec.push_str(" open --app %u");
    format!(
        "[Desktop Entry]\nType=Application\nName=Busker\nGenericName=Music network\n\
         Comment=Play, publish and share music, peer to peer\nExec={exec}\nTerminal=false\n\
         Categories=AudioVideo;Audio;Player;Network;\nMimeType={SCHEME_HANDLER};\n"
    )
}

/// Sets `busker.desktop` as the default handler in the text of a `mimeapps.list`, keeping
/// every other line.
fn with_default(text: &str) -> String {
    let line = format!("{SCHEME_HANDLER}={DESKTOP_FILE}");
    let mut out: Vec<String> = Vec::new();
    let mut in_defaults = false;
    let mut done = false;
    for l in text.lines() {
        let trimmed = l.trim();
        if trimmed.starts_with('[') {
            if in_defaults && !done {
                out.push(line.clone());
                done = true;
            }
            in_defaults = trimmed == "[Default Applications]";
        } else if in_defaults && trimmed.starts_with(&format!("{SCHEME_HANDLER}=")) {
            if !done {
                out.push(line.clone());
                done = true;
            }
            continue;
        }
        out.push(l.to_owned());
    }
    if !done {
        if !in_defaults {
            out.push("[Default Applications]".to_owned());
        }
        out.push(line);
    }
    out.join("\n") + "\n"
}

fn write_through_tmp(path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().context("a file without a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("busker-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Installs the handler for this user, running this very binary (on `data_dir`, when not the
/// default one): see the module's documentation.
pub fn install_this(data_dir: Option<&Path>) -> Result<Installed> {
    let exe = std::env::current_exe().context("cannot tell where this busker binary is")?;
    let default = busker_core::DataDir::default_root();
    let data_dir = data_dir
        .filter(|d| default.as_deref() != Some(*d))
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_owned()));
    install(&exe, data_dir.as_deref())
}

/// Installs the handler for this user: see the module's documentation.
pub fn install(exe: &Path, data_dir: Option<&Path>) -> Result<Installed> {
    let desktop_file = xdg_dir("XDG_DATA_HOME", ".local/share")?
        .join("applications")
        .join(DESKTOP_FILE);
    write_through_tmp(&desktop_file, &entry(exe, data_dir))?;
    let mimeapps = xdg_dir("XDG_CONFIG_HOME", ".config")?.join("mimeapps.list");
    let old = match std::fs::read_to_string(&mimeapps) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", mimeapps.display())),
    };
    write_through_tmp(&mimeapps, &with_default(&old))?;
    Ok(Installed {
        desktop_file,
        mimeapps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_set_and_every_other_line_kept() {
        let old = "[Added Associations]\ntext/html=firefox.desktop;\n\n[Default Applications]\n\
                   x-scheme-handler/busker=old.desktop\nimage/png=eog.desktop\n";
        let new = with_default(old);
        assert_eq!(
            new,
            "[Added Associations]\ntext/html=firefox.desktop;\n\n[Default Applications]\n\
             x-scheme-handler/busker=busker.desktop\nimage/png=eog.desktop\n"
        );
        assert_eq!(with_default(&new), new, "installing twice changes nothing");
        assert_eq!(
            with_default(""),
            "[Default Applications]\nx-scheme-handler/busker=busker.desktop\n"
        );
        assert!(
            with_default("[Added Associations]\na=b\n")
                .ends_with("a=b\n[Default Applications]\nx-scheme-handler/busker=busker.desktop\n")
        );
    }

    #[test]
    fn the_exec_line_quotes_paths() {
        let e = entry(
            Path::new("/opt/my apps/busker"),
            Some(Path::new("/data/$me")),
        );
        assert!(
            e.contains(r#"Exec="/opt/my apps/busker" --data-dir "/data/\\$me" open --app %u"#),
            "{e}"
        );
    }
}
