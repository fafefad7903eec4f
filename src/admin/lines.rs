//! Reading one `mongoexport` file line by line with a byte-based progress bar. Only the
//! current line is held, so memory does not grow with the file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The longest line read: MongoDB's document limit (16 MiB), so no Rocket.Chat document is
/// refused, while a corrupt file without newlines cannot make the import hold gigabytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum LinesError {
    #[error("cannot read {file}")]
    Io {
        file: String,
        #[source]
        source: io::Error,
    },
    #[error("{file} line {line} is longer than {MAX_LINE_BYTES} bytes, the longest line an import reads")]
    TooLong { file: String, line: u64 },
    #[error(
        "{file} is a JSON array (mongoexport --jsonArray); export one document per line instead"
    )]
    JsonArray { file: String },
}

/// `<collection>.json` in an export directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub path: PathBuf,
    /// The file name, for messages (`rocketchat_room.json`).
    pub name: String,
    pub len: u64,
}

impl ExportFile {
    /// `Ok(None)` when the collection was not exported.
    pub fn find(dir: &Path, collection: &str) -> Result<Option<Self>, LinesError> {
        let name = format!("{collection}.json");
        let path = dir.join(&name);
        match std::fs::metadata(&path) {
            Ok(meta) => Ok(Some(Self {
                path,
                name,
                len: meta.len(),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(LinesError::Io { file: name, source }),
        }
    }
}

pub struct Lines {
    file: String,
    reader: BufReader<File>,
    buf: Vec<u8>,
    line_no: u64,
    seen_content: bool,
    bar: ProgressBar,
}

impl Lines {
    /// `label` prefixes the progress bar, which is drawn on stderr only when `show_progress`
    /// (indicatif also stays silent when stderr is not a terminal).
    pub fn open(file: &ExportFile, label: &str, show_progress: bool) -> Result<Self, LinesError> {
        let handle = File::open(&file.path).map_err(|source| LinesError::Io {
            file: file.name.clone(),
            source,
        })?;
        let target = if show_progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(file.len), target);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:32} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        Ok(Self {
            file: file.name.clone(),
            reader: BufReader::with_capacity(256 * 1024, handle),
            buf: Vec::new(),
            line_no: 0,
            seen_content: false,
            bar,
        })
    }

    /// The next line that is not blank, with its 1-based line number.
    pub fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, LinesError> {
        loop {
            self.buf.clear();
            // At most one byte past the cap is read into memory; the rest of the line never is.
            let n = (&mut self.reader)
                .take(MAX_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut self.buf)
                .map_err(|source| LinesError::Io {
                    file: self.file.clone(),
                    source,
                })?;
            if n == 0 {
                return Ok(None);
            }
            self.bar.inc(n as u64);
            self.line_no += 1;
            if n > MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
                return Err(LinesError::TooLong {
                    file: self.file.clone(),
                    line: self.line_no,
                });
            }
            let (start, end) = trimmed_range(&self.buf, self.line_no == 1);
            if start == end {
                continue;
            }
            if !self.seen_content {
                self.seen_content = true;
                if self.buf[start] == b'[' {
                    return Err(LinesError::JsonArray {
                        file: self.file.clone(),
                    });
                }
            }
            return Ok(Some((self.line_no, &self.buf[start..end])));
        }
    }

    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

fn trimmed_range(buf: &[u8], first_line: bool) -> (usize, usize) {
    let mut start = buf.len() - buf.trim_ascii_start().len();
    if first_line && buf[start..].starts_with(b"\xEF\xBB\xBF") {
        start += 3;
    }
    let end = buf.trim_ascii_end().len().max(start);
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, content: &str) -> (PathBuf, ExportFile) {
        let dir = std::env::temp_dir().join(format!("lines-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.json")), content).unwrap();
        let file = ExportFile::find(&dir, name).unwrap().unwrap();
        (dir, file)
    }

    #[test]
    fn yields_non_blank_lines_with_their_numbers() {
        let (dir, file) = write("c", "\u{feff}{\"a\":1}\r\n\n  {\"b\":2}  \n{\"c\":3}");
        let mut lines = Lines::open(&file, "c", false).unwrap();
        let mut seen = Vec::new();
        while let Some((n, l)) = lines.next_line().unwrap() {
            seen.push((n, String::from_utf8(l.to_vec()).unwrap()));
        }
        assert_eq!(
            seen,
            vec![
                (1, "{\"a\":1}".to_string()),
                (3, "{\"b\":2}".to_string()),
                (4, "{\"c\":3}".to_string())
            ]
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn json_arrays_are_refused() {
        let (dir, file) = write("arr", "[{\"a\":1},\n{\"b\":2}]\n");
        let mut lines = Lines::open(&file, "arr", false).unwrap();
        assert!(matches!(
            lines.next_line(),
            Err(LinesError::JsonArray { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_collection_is_none() {
        assert_eq!(
            ExportFile::find(&std::env::temp_dir(), "no-such-collection-x").unwrap(),
            None
        );
    }
}
