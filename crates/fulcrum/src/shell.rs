//! `fulcrum control`: the operator's shell to a running daemon, over the control socket.
//!
//! With `--json` every answer is one JSON document per command (the typed documents of
//! `fulcrum_control::show`) instead of the text tables; a command whose last word is `--json`
//! asks for that one answer so. Three ways in: `-e COMMAND` (repeatable: run them in order, print the answers, exit 1 if any
//! failed; `fulcrum control reload` is `-e reload`, the words after `control` being one command), commands on stdin when it is not a terminal (same, line by line; a `{ ... }` block may
//! span lines), or an interactive rustyline session with the banner `fulcrum: connected to PID
//! N`, the prompt `HOSTNAME# `, tab completion from the shared command table and a history file
//! under the user's state directory.

use std::io::{BufRead, IsTerminal};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fulcrum_control::message::{read_message, write_message, Format, Message};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

#[derive(clap::Args)]
pub struct Args {
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH", default_value = fulcrum_control::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Answer each command with one JSON document (typed fields, see docs/control.md) instead
    /// of text.
    #[arg(long)]
    json: bool,
    /// Run COMMAND and exit; repeat to run several in order (exit 1 if any failed).
    #[arg(short = 'e', long = "execute", value_name = "COMMAND")]
    execute: Vec<String>,
    /// One command given as words, run after any -e (e.g. `fulcrum control reload`).
    #[arg(value_name = "WORDS", trailing_var_arg = true)]
    words: Vec<String>,
}

/// How long the shell waits for the daemon to answer before giving up on it.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

pub fn main(mut args: Args) -> u8 {
    if !args.words.is_empty() {
        args.execute.push(args.words.join(" "));
    }
    let mut client = match Client::connect(&args.socket) {
        Ok(client) if args.json => client.json(),
        Ok(client) => client,
        Err(message) => {
            eprintln!("{message}");
            return 1;
        }
    };
    if !args.execute.is_empty() {
        eprintln!("fulcrum: connected to PID {}", client.pid);
        return run_batch(&mut client, args.execute);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!("fulcrum: connected to PID {}", client.pid);
        let lines = stdin.lock().lines().map_while(Result::ok);
        return run_batch(&mut client, StatementReader::new(lines));
    }
    interactive(&mut client)
}

pub(crate) struct Client {
    stream: UnixStream,
    pid: u32,
    hostname: String,
    format: Format,
}

/// The daemon's answer to one command.
pub(crate) struct Answer {
    pub(crate) ok: bool,
    pub(crate) text: String,
    pub(crate) close: bool,
}

impl Client {
    pub(crate) fn connect(path: &Path) -> Result<Client, String> {
        let mut stream = UnixStream::connect(path).map_err(|e| {
            format!(
                "cannot connect to {}: {e} — is the daemon running? (systemctl status fulcrum, or fulcrum run -c FILE)",
                path.display()
            )
        })?;
        let _ = stream.set_read_timeout(Some(ANSWER_TIMEOUT));
        match read_message(&mut stream) {
            Ok(Some(Message::Hello { pid, hostname, .. })) => Ok(Client {
                stream,
                pid,
                hostname,
                format: Format::Text,
            }),
            // The daemon refuses a session beyond its cap with a response instead of a hello.
            Ok(Some(Message::Response {
                ok: false, text, ..
            })) => Err(format!(
                "{}: the daemon refused the session: {}",
                path.display(),
                text.trim_end()
            )),
            Ok(_) => Err(format!(
                "{} answered without a hello; is it a fulcrum control socket?",
                path.display()
            )),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// The same session, asking for JSON documents from now on.
    pub(crate) fn json(mut self) -> Client {
        self.format = Format::Json;
        self
    }

    pub(crate) fn request(&mut self, line: &str) -> Result<Answer, String> {
        self.request_as(line, self.format)
    }

    /// A command typed in the shell or read in a batch: a last word `--json` asks for this one
    /// answer as JSON (`show targets --json`).
    fn request_typed(&mut self, line: &str) -> Result<Answer, String> {
        match json_suffix(line) {
            Some(command) => self.request_as(command, Format::Json),
            None => self.request(line),
        }
    }

    fn request_as(&mut self, line: &str, format: Format) -> Result<Answer, String> {
        let request = Message::Request {
            line: line.to_string(),
            format,
        };
        write_message(&mut self.stream, &request)
            .map_err(|e| format!("connection to the daemon lost: {e}"))?;
        match read_message(&mut self.stream) {
            Ok(Some(Message::Response { ok, text, close })) => Ok(Answer { ok, text, close }),
            Ok(Some(_)) => Err("the daemon sent something other than a response".into()),
            Ok(None) => Err("the daemon closed the connection".into()),
            Err(e) => Err(format!("connection to the daemon lost: {e}")),
        }
    }
}

/// The command before a last word `--json`, if the line ends with one (a `{ ... }` block never
/// does: it ends with its closing brace).
fn json_suffix(line: &str) -> Option<&str> {
    let trimmed = line.trim_end();
    let command = trimmed.strip_suffix("--json")?;
    command
        .ends_with(char::is_whitespace)
        .then(|| command.trim_end())
}

fn print_answer(text: &str) {
    print!("{text}");
    if !text.is_empty() && !text.ends_with('\n') {
        println!();
    }
}

/// Runs commands in order; exit status 1 if any failed or the connection broke.
fn run_batch(client: &mut Client, commands: impl IntoIterator<Item = String>) -> u8 {
    let mut failed = false;
    for command in commands {
        match client.request_typed(&command) {
            Ok(answer) => {
                print_answer(&answer.text);
                failed |= !answer.ok;
                if answer.close {
                    break;
                }
            }
            Err(message) => {
                eprintln!("fulcrum control: {message}");
                return 1;
            }
        }
    }
    u8::from(failed)
}

fn interactive(client: &mut Client) -> u8 {
    println!("fulcrum: connected to PID {}", client.pid);
    let mut editor: Editor<ShellHelper, DefaultHistory> = match Editor::new() {
        Ok(editor) => editor,
        Err(e) => {
            eprintln!("fulcrum control: cannot start the line editor: {e}");
            return 1;
        }
    };
    editor.set_helper(Some(ShellHelper));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    let prompt = format!("{}# ", client.hostname);
    let mut pending = String::new();
    let mut status = 0;
    loop {
        let shown = if pending.is_empty() {
            prompt.as_str()
        } else {
            "> "
        };
        match editor.readline(shown) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if !pending.is_empty() {
                    pending.push('\n');
                }
                pending.push_str(&line);
                if brace_depth(&pending) > 0 {
                    continue;
                }
                let command = std::mem::take(&mut pending);
                match client.request_typed(&command) {
                    Ok(answer) => {
                        print_answer(&answer.text);
                        if answer.close {
                            break;
                        }
                    }
                    Err(message) => {
                        eprintln!("fulcrum control: {message}");
                        status = 1;
                        break;
                    }
                }
            }
            Err(ReadlineError::Interrupted) => pending.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("fulcrum control: {e}");
                status = 1;
                break;
            }
        }
    }
    if let Some(path) = &history {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match editor.save_history(path) {
            // Lines such as `set synckey "..."` end up in it: keep it private.
            Ok(()) => {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            }
            Err(e) => {
                eprintln!(
                    "fulcrum control: cannot save history to {}: {e}",
                    path.display()
                )
            }
        }
    }
    status
}

/// `$XDG_STATE_HOME/fulcrum/history`, else `~/.local/state/fulcrum/history`.
fn history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state"))
        })?;
    Some(state.join("fulcrum/history"))
}

/// Open `{` minus `}` outside double quotes and `//` comments: above zero, a block continues on
/// the next line.
fn brace_depth(text: &str) -> i64 {
    let mut depth = 0i64;
    for line in text.lines() {
        let mut in_quotes = false;
        let mut previous = '\0';
        for c in line.chars() {
            match c {
                '"' => in_quotes = !in_quotes,
                '/' if previous == '/' && !in_quotes => break,
                '{' if !in_quotes => depth += 1,
                '}' if !in_quotes => depth -= 1,
                _ => {}
            }
            previous = c;
        }
    }
    depth
}

/// Groups lines into commands: a line that opens a `{` block is joined with the following lines
/// until the block closes.
struct StatementReader<I> {
    lines: I,
}

impl<I> StatementReader<I> {
    fn new(lines: I) -> Self {
        StatementReader { lines }
    }
}

impl<I: Iterator<Item = String>> Iterator for StatementReader<I> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        let mut statement = self.lines.next()?;
        while brace_depth(&statement) > 0 {
            match self.lines.next() {
                Some(line) => {
                    statement.push('\n');
                    statement.push_str(&line);
                }
                // An unclosed block goes to the daemon as is; its parser says what is missing.
                None => break,
            }
        }
        Some(statement)
    }
}

struct ShellHelper;

impl Completer for ShellHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let before = line.get(..pos).unwrap_or(line);
        let start = fulcrum_control::partial_word_start(before);
        let words = fulcrum_control::complete(before)
            .into_iter()
            .map(|w| format!("{w} "))
            .collect();
        Ok((start, words))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_span_lines_and_single_lines_pass_through() {
        let input = [
            "show targets",
            "target 3 {",
            "  ipaddr 127.0.0.3",
            "  alert \"echo }\"",
            "}",
            "// target 4 {",
            "register target 3",
        ]
        .map(String::from);
        let statements: Vec<String> = StatementReader::new(input.into_iter()).collect();
        assert_eq!(
            statements,
            [
                "show targets",
                "target 3 {\n  ipaddr 127.0.0.3\n  alert \"echo }\"\n}",
                "// target 4 {",
                "register target 3",
            ]
        );
    }

    #[test]
    fn a_last_word_json_asks_for_that_answer_as_json() {
        assert_eq!(json_suffix("show targets --json"), Some("show targets"));
        assert_eq!(
            json_suffix("  show sessions 5   --json  "),
            Some("  show sessions 5")
        );
        assert_eq!(json_suffix("show targets"), None);
        assert_eq!(json_suffix("show targets--json"), None);
        assert_eq!(json_suffix("--json"), None);
    }

    #[test]
    fn unclosed_block_is_sent_as_is() {
        let input = ["target 3 {", "ipaddr 127.0.0.3"].map(String::from);
        let statements: Vec<String> = StatementReader::new(input.into_iter()).collect();
        assert_eq!(statements, ["target 3 {\nipaddr 127.0.0.3"]);
    }

    #[test]
    fn completion_replaces_the_word_under_the_cursor() {
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        let (start, words) = ShellHelper.complete("show ser", 8, &ctx).unwrap();
        assert_eq!((start, words), (5, vec!["servers ".to_string()]));
    }
}
