//! What a guest wrote to stderr before it trapped, reduced to one line:
//! a Rust panic's message, the last line of a Python traceback, or a
//! JavaScript exception's message, each with where it was raised.

/// Longest message kept, bytes: it goes into logs and decision traces.
const MAX_MESSAGE: usize = 1024;

/// The guest's own account of its failure, if its stderr holds one.
pub(super) fn guest_message(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let message = python_exception(&text)
        .or_else(|| javascript_exception(&text))
        .or_else(|| rust_panic(&text))?;
    Some(truncate(message))
}

/// componentize-py prints the traceback, then its runtime panics:
/// "Traceback …\n  File "x.py", line 36, in f\nRuntimeError: why\n\n
/// thread … panicked at …" → "RuntimeError: why (x.py:36 in f)".
fn python_exception(text: &str) -> Option<String> {
    // The last traceback: a chained exception prints its causes first.
    let at = text.rfind("Traceback (most recent call last):")?;
    let rest = &text[at..];
    let traceback = rest.find("panicked at").map_or(rest, |end| {
        // Up to the start of the panic's own line ("thread '…' panicked at").
        let line_start = rest[..end].rfind('\n').map_or(0, |i| i + 1);
        &rest[..line_start]
    });
    let message = traceback
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with(' '))?
        .trim();
    let location = traceback
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("File \""))
        .and_then(|l| {
            // `x.py", line 36, in f`
            let (file, rest) = l.split_once("\", line ")?;
            let (line, function) = rest.split_once(", in ")?;
            Some(format!("{file}:{line} in {function}"))
        });
    Some(match location {
        Some(location) => format!("{message} ({location})"),
        None => message.to_string(),
    })
}

/// componentize-js (built with its `stdio` feature) prints an uncaught
/// exception as "why\nStack:\n  f@x.js:19:11\n…" → "why (f@x.js:19:11)".
fn javascript_exception(text: &str) -> Option<String> {
    let stack = text.find("\nStack:\n")?;
    let message = text[..stack]
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())?
        .trim();
    let frame = text[stack + "\nStack:\n".len()..]
        .lines()
        .next()
        .map(str::trim)
        .filter(|f| !f.is_empty());
    Some(match frame {
        Some(frame) => format!("{message} ({frame})"),
        None => message.to_string(),
    })
}

/// "panicked at src/lib.rs:10:5:\nthe message" → "the message (src/lib.rs:10:5)".
fn rust_panic(text: &str) -> Option<String> {
    let at = text.find("panicked at")?;
    let rest = &text[at + "panicked at".len()..];
    let (location, message) = rest.split_once(":\n").unwrap_or((rest, ""));
    let message = message.lines().next().unwrap_or("").trim();
    Some(format!("{message} ({})", location.trim()))
}

fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::guest_message;

    #[test]
    fn a_rust_panic() {
        let stderr = b"thread '<unnamed>' panicked at src/lib.rs:10:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            guest_message(stderr).as_deref(),
            Some("boom (src/lib.rs:10:5)")
        );
    }

    #[test]
    fn a_python_traceback_gives_its_last_line() {
        let stderr = "Traceback (most recent call last):\n  \
            File \"/0/hostile.py\", line 61, in check\n  \
            File \"/0/hostile.py\", line 36, in misbehave\n\
            RuntimeError: hostile guest raised on purpose\n\n\
            thread '<unnamed>' (1) panicked at runtime/src/lib.rs:1280:25:\n\
            Python function threw an unexpected exception\n\
            note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        assert_eq!(
            guest_message(stderr.as_bytes()).as_deref(),
            Some("RuntimeError: hostile guest raised on purpose (/0/hostile.py:36 in misbehave)")
        );
    }

    #[test]
    fn a_chained_python_exception_gives_the_last() {
        let stderr = "Traceback (most recent call last):\n  File \"a.py\", line 1, in f\n\
            KeyError: 'x'\n\nDuring handling of the above exception, another exception occurred:\n\n\
            Traceback (most recent call last):\n  File \"a.py\", line 3, in f\n    \
            raise ValueError(\"no x\")\nValueError: no x\n";
        assert_eq!(
            guest_message(stderr.as_bytes()).as_deref(),
            Some("ValueError: no x (a.py:3 in f)")
        );
    }

    #[test]
    fn a_javascript_exception() {
        let stderr = "hostile guest raised on purpose\nStack:\n  \
            misbehave@hostile.js:19:11\n  check@hostile.js:47:14\n\n\
            Redirecting call to abort() to mozalloc_abort\n\n";
        assert_eq!(
            guest_message(stderr.as_bytes()).as_deref(),
            Some("hostile guest raised on purpose (misbehave@hostile.js:19:11)")
        );
    }

    #[test]
    fn nothing_recognisable_is_none() {
        assert_eq!(guest_message(b""), None);
        assert_eq!(guest_message(b"some output\n"), None);
    }

    #[test]
    fn a_long_message_is_cut() {
        let stderr = format!("{}\nStack:\n", "é".repeat(2000));
        let message = guest_message(stderr.as_bytes()).unwrap_or_default();
        assert!(message.len() <= 1024 + '…'.len_utf8(), "{}", message.len());
        assert!(message.ends_with('…'));
    }
}
