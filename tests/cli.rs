//! The command-line contract of `CLI.md`, driven through the real binary.

use crate::util::{Peer, audio};

fn titles(values: &[serde_json::Value]) -> Vec<String> {
    values
        .iter()
        .map(|v| v["title"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn fresh_data_dir_lists_and_finds_the_demo_library() {
    let peer = Peer::new();
    let (ok, list, _) = peer.json(&["list"]);
    assert!(ok);
    assert_eq!(list.len(), 5);
    for track in &list {
        for key in [
            "id",
            "title",
            "artist",
            "album",
            "duration_secs",
            "format",
            "local",
            "providers",
            "artist_key",
        ] {
            assert!(track.get(key).is_some(), "{key} missing in {track}");
        }
        assert_eq!(track["local"], true);
    }
    for query in ["spring lov", "sprng of love", "Spring of love"] {
        let (ok, hits, _) = peer.json(&["search", query]);
        assert!(ok);
        assert_eq!(
            titles(&hits).first().map(String::as_str),
            Some("Spring of love"),
            "{query}"
        );
    }
}

#[test]
fn publish_files_and_folders_with_clear_errors_for_bad_ones() {
    let peer = Peer::new();
    let music = tempfile::tempdir().unwrap();
    std::fs::copy(
        audio("sonicpi_ambi_piano.flac"),
        music.path().join("piano.flac"),
    )
    .unwrap();
    std::fs::write(music.path().join("broken.ogg"), b"OggS but not really").unwrap();
    let (ok, published, stderr) = peer.json(&[
        "--no-demo",
        "publish",
        "--artist",
        "Ada Busker",
        music.path().to_str().unwrap(),
        &audio("opsound_manolo_camp-morning_coffee.tagged.flac"),
    ]);
    assert!(!ok, "one file failed, so the exit code says so");
    // Results come in the order of the arguments, folders expanded in place.
    assert_eq!(titles(&published), vec!["piano", "Morning Coffee"]);
    assert_eq!(published[0]["artist"], "Ada Busker");
    assert_eq!(
        published[1]["artist"], "Ada Busker",
        "--artist overrides the tag"
    );
    assert_eq!(published[1]["format"], "flac");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("broken.ogg"), "{stderr}");

    // Nothing of the broken file was kept; the good ones are searchable.
    let (_, list, _) = peer.json(&["list"]);
    assert_eq!(list.len(), 2);
    let (_, hits, _) = peer.json(&["search", "mornin"]);
    assert_eq!(titles(&hits), vec!["Morning Coffee"]);

    // Publishing the same file again is refused and changes nothing.
    let out = peer.run(&[
        "publish",
        &audio("opsound_manolo_camp-morning_coffee.tagged.flac"),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already published"));
    let (_, list, _) = peer.json(&["list"]);
    assert_eq!(list.len(), 2);
}

#[test]
fn a_data_dir_in_use_is_refused_with_one_line() {
    let peer = Peer::new();
    let _held = busker_core::Library::open(
        busker_core::LibraryOptions::new(peer.dir.path()).seed_demo(false),
    )
    .unwrap();
    let out = peer.run(&["list"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("in use by another Busker process"),
        "{stderr}"
    );
}

#[test]
fn unreadable_paths_and_empty_queries_are_handled() {
    let peer = Peer::new();
    let out = peer.run(&["--no-demo", "publish", "/definitely/not/here.flac"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/definitely/not/here.flac") && stderr.contains("cannot read"),
        "{stderr}"
    );
    let (ok, hits, _) = peer.json(&["search", "   "]);
    assert!(ok);
    assert!(hits.is_empty());
}

#[test]
fn a_blocked_artist_disappears_from_list_and_search_until_unblocked() {
    let peer = Peer::new();
    let (ok, list, _) = peer.json(&["list"]);
    assert!(ok);
    // The demo library is signed by one (public) key: block it.
    let demo_key = list[0]["artist_key"].as_str().unwrap().to_owned();
    assert!(list.iter().all(|t| t["artist_key"] == demo_key.as_str()));
    let (ok, out, err) = peer.json(&["block", &demo_key]);
    assert!(ok, "{err}");
    assert_eq!(
        out[0],
        serde_json::json!({"artist_key": demo_key, "blocked": true})
    );
    let (_, list, _) = peer.json(&["list"]);
    assert!(list.is_empty(), "hidden from the list: {list:?}");
    let (_, hits, _) = peer.json(&["search", "spring of love"]);
    assert!(hits.is_empty(), "hidden from search: {hits:?}");

    // The block survives the process (it is stored), and lifting it brings everything back.
    let (ok, out, _) = peer.json(&["unblock", &demo_key]);
    assert!(ok);
    assert_eq!(out[0]["blocked"], false);
    let (_, list, _) = peer.json(&["list"]);
    assert_eq!(list.len(), 5);

    // Not a key, and this peer's own key, are refused with a clear error.
    let bad = peer.run(&["block", "not-a-key"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("64 hex digits"));
    let (ok, me, _) = peer.json(&["artist"]);
    assert!(ok);
    let own = peer.run(&["block", me[0]["key"].as_str().unwrap()]);
    assert!(!own.status.success());
    assert!(String::from_utf8_lossy(&own.stderr).contains("your own artist key"));
}

#[test]
fn an_artist_key_backed_up_on_one_machine_publishes_as_the_same_artist_on_another() {
    let (studio, laptop) = (Peer::new(), Peer::new());
    let ada = studio.publish(
        &audio("sonicpi_ambi_piano.flac"),
        &["--no-demo", "--artist", "Ada"],
    );
    let (_, listed, _) = studio.json(&["list"]);
    let ada_key = listed[0]["artist_key"].as_str().unwrap().to_owned();
    assert_eq!(listed[0]["id"], ada.as_str());

    let backup = studio.dir.path().join("ada-key.txt");
    let (ok, out, err) = studio.json(&["key", "export", backup.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out[0]["artist_key"], ada_key.as_str());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "the backup is readable by its owner only"
    );
    let again = studio.run(&["key", "export", backup.to_str().unwrap()]);
    assert!(
        !again.status.success(),
        "an existing file is never overwritten"
    );

    // A mistyped backup changes nothing and says why.
    let text = std::fs::read_to_string(&backup).unwrap();
    let typo = laptop.dir.path().join("typo.txt");
    let secret = text.lines().nth(2).unwrap();
    let last = secret.chars().last().unwrap();
    let swapped = if last == '0' { '1' } else { '0' };
    let mistyped = format!("{}{swapped}", &secret[..secret.len() - 1]);
    std::fs::write(&typo, text.replace(secret, &mistyped)).unwrap();
    let out = laptop.run(&["--no-demo", "key", "import", typo.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mistyped"), "{stderr}");

    // The laptop takes the key over and publishes as Ada, under Ada's key.
    let (ok, out, err) = laptop.json(&["--no-demo", "key", "import", backup.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out[0]["artist_key"], ada_key.as_str());
    let (ok, _, err) = laptop.json(&["publish", &audio("sonicpi_guit_em9.flac")]);
    assert!(ok, "{err}");
    let (_, listed, _) = laptop.json(&["list"]);
    assert!(
        listed.iter().all(|t| t["artist_key"] == ada_key.as_str()),
        "{listed:?}"
    );

    // Importing over a key that signed releases needs --replace, and keeps the old key.
    let other = Peer::new();
    let other_backup = other.dir.path().join("other.txt");
    // On a data dir never opened, export makes the key first.
    let (ok, _, err) = other.json(&["--no-demo", "key", "export", other_backup.to_str().unwrap()]);
    assert!(ok, "{err}");
    let out = studio.run(&["key", "import", other_backup.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--replace"));
    let (ok, out, err) =
        studio.json(&["key", "import", other_backup.to_str().unwrap(), "--replace"]);
    assert!(ok, "{err}");
    assert_eq!(out[0]["replaced"], ada_key.as_str());
    assert!(
        studio
            .dir
            .path()
            .join(format!("keys/retired/{ada_key}.key"))
            .exists()
    );
    let (_, listed, _) = studio.json(&["list"]);
    assert_eq!(
        listed[0]["id"],
        ada.as_str(),
        "Ada's release stays, signed by Ada"
    );
}

/// Waits for `child` to exit, failing the test after 60 s (a guard against a hang, which is
/// what these tests look for, not a synchronisation).
fn exit_within_a_minute(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("busker did not exit within a minute");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn spawn_busker(peer: &Peer, args: &[&str]) -> std::process::Child {
    std::process::Command::new(crate::util::busker_bin())
        .arg("--data-dir")
        .arg(peer.dir.path())
        .args(args)
        .env_remove("BUSKER_DATA_DIR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn fifos_devices_link_loops_and_huge_files_in_a_folder_are_skipped_with_a_line_each() {
    let peer = Peer::new();
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    std::fs::copy(audio("sonicpi_ambi_piano.flac"), dir.join("good.flac")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(dir.join("pipe.mp3"))
            .status()
            .unwrap()
            .success()
    );
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.flac")).unwrap();
    std::os::unix::fs::symlink(dir, dir.join("loop")).unwrap();
    // Sparse: 4 GiB + 1 byte on paper, nothing on disk.
    let big = std::fs::File::create(dir.join("big.wav")).unwrap();
    big.set_len((4 << 30) + 1).unwrap();

    let mut child = spawn_busker(&peer, &["--no-demo", "publish", dir.to_str().unwrap()]);
    let status = exit_within_a_minute(&mut child);
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!status.success(), "some entries failed: {stderr}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.starts_with("published"))
            .count(),
        1,
        "{stdout}"
    );
    let line = |what: &str| stderr.lines().filter(|l| l.contains(what)).count();
    assert_eq!(line("pipe.mp3: not a regular file (a FIFO)"), 1, "{stderr}");
    assert_eq!(
        line("zero.flac: not a regular file (a device)"),
        1,
        "{stderr}"
    );
    assert_eq!(line("symbolic link loop"), 1, "{stderr}");
    assert_eq!(
        line("big.wav: file size 4294967297 bytes is not publishable"),
        1,
        "{stderr}"
    );
    let (_, listed, _) = peer.json(&["list"]);
    assert_eq!(listed.len(), 1);

    // Named on the command line, a FIFO is refused the same way, without blocking on it.
    let mut child = spawn_busker(&peer, &["publish", dir.join("pipe.mp3").to_str().unwrap()]);
    assert!(!exit_within_a_minute(&mut child).success());
}

#[test]
fn ctrl_c_stops_a_long_publish_keeping_what_was_done_and_nothing_partial() {
    use std::io::BufRead;
    let peer = Peer::new();
    const FILES: usize = 40;
    let folder = crate::util::wav_folder(FILES);
    let mut child = spawn_busker(
        &peer,
        &["--no-demo", "publish", folder.path().to_str().unwrap()],
    );
    // Interrupt once the first file is published: the rest are still to do.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("published"), "{first}");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = exit_within_a_minute(&mut child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let published = 1 + rest.lines().filter(|l| l.starts_with("published")).count();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        published < FILES,
        "the interrupt landed after the last file"
    );

    // What was reported published is here, whole; nothing else is; the rest publishes later.
    let kept = crate::util::assert_kept_whole_then_the_rest(&peer, folder.path(), FILES);
    assert_eq!(kept, published);
}

#[test]
fn a_damaged_search_index_is_rebuilt_from_the_database_with_a_warning() {
    let peer = Peer::new();
    let (ok, before, err) = peer.json(&["list"]);
    assert!(ok, "{err}");
    // Cut every segment's store and term index files short.
    let mut damaged = 0;
    for entry in std::fs::read_dir(peer.dir.path().join("index")).unwrap() {
        let path = entry.unwrap().path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("store" | "idx")
        ) {
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(10)
                .unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0, "the premise: index files were damaged");
    let (ok, hits, err) = peer.json(&["search", "spring of love"]);
    assert!(ok, "{err}");
    assert!(err.contains("rebuilding it from the database"), "{err}");
    assert_eq!(hits[0]["title"], "Spring of love");
    let (_, after, err) = peer.json(&["list"]);
    assert_eq!(after, before, "nothing lost");
    assert!(!err.contains("rebuilding"), "rebuilt once: {err}");
}
