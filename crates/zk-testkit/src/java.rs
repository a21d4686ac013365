//! Java programs of the interoperability tests and benchmarks: Apache Curator's jars
//! from Debian's packages (`scripts/test.sh` installs them), and compiling a test's Java
//! source against them.
//!
//! Owns the list of jars and the `javac` call; running the program is the caller's.

use std::path::{Path, PathBuf};

use crate::{Result, TestkitError};

/// The jars a Curator recipes program needs, as Debian names them in `/usr/share/java`.
pub const CURATOR_JARS: &[&str] = &[
    "curator-recipes",
    "curator-framework",
    "curator-client",
    "zookeeper",
    "zookeeper-jute",
    "guava",
    "slf4j-api",
    "slf4j-nop",
];

/// The class path of `jars` (Debian's names) and `extra` directories, checking that each
/// jar is installed.
pub fn classpath(jars: &[&str], extra: &[&Path]) -> Result<String> {
    let mut entries = Vec::new();
    for jar in jars {
        let path = PathBuf::from(format!("/usr/share/java/{jar}.jar"));
        if !path.exists() {
            return Err(TestkitError::Install(format!(
                "{} missing: apt-get install libcurator-recipes-java libcurator-discovery-java \
                 (scripts/test.sh does)",
                path.display()
            )));
        }
        entries.push(path.display().to_string());
    }
    entries.extend(extra.iter().map(|p| p.display().to_string()));
    Ok(entries.join(":"))
}

/// Compiles `source` against `jars` into a fresh directory under the system's temporary
/// directory; returns the class path to run its classes with (the jars and that
/// directory).
pub fn compile(source: &Path, jars: &[&str]) -> Result<String> {
    let stem = source
        .file_stem()
        .map_or_else(|| "java".to_owned(), |s| s.to_string_lossy().into_owned());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let out =
        std::env::temp_dir().join(format!("zkmesh-java-{stem}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&out)
        .map_err(|e| TestkitError::io(format!("creating {}", out.display()), e))?;
    let classpath = classpath(jars, &[&out])?;
    let status = std::process::Command::new("javac")
        .arg("-cp")
        .arg(&classpath)
        .arg("-d")
        .arg(&out)
        .arg(source)
        .status()
        .map_err(|e| TestkitError::io("running javac (the JDK must be installed)", e))?;
    if !status.success() {
        return Err(TestkitError::Parse(format!(
            "javac {} failed ({status})",
            source.display()
        )));
    }
    Ok(classpath)
}
