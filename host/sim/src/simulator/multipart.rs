//! A small `multipart/form-data` reader for the simulator (text fields
//! only; file parts are skipped), so the simulator checks that clients send
//! multipart where Unipile wants it.

/// The `boundary` parameter of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let mime = parts.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    parts
        .map(str::trim)
        .find_map(|p| {
            p.split_once('=')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
                .map(|(_, v)| v.trim().trim_matches('"').to_string())
        })
        .filter(|b| !b.is_empty())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The text fields of a multipart body, in order; `None` if the body is
/// not well formed.
pub fn parse(content_type: &str, body: &[u8]) -> Option<Vec<(String, String)>> {
    let boundary = boundary(content_type)?;
    let delimiter = format!("--{boundary}");
    let separator = format!("\r\n--{boundary}");
    let start = find(body, delimiter.as_bytes())?;
    let mut rest = &body[start + delimiter.len()..];
    let mut fields = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(fields);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let header_end = find(rest, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&rest[..header_end]).ok()?;
        let content = &rest[header_end + 4..];
        let end = find(content, separator.as_bytes())?;
        let value = &content[..end];
        if let Some((name, false)) = disposition(headers) {
            fields.push((name, String::from_utf8_lossy(value).into_owned()));
        }
        rest = &content[end + separator.len()..];
    }
}

/// The field name of a part and whether it is a file.
fn disposition(headers: &str) -> Option<(String, bool)> {
    let line = headers.split("\r\n").find(|l| {
        l.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
    })?;
    let (_, value) = line.split_once(':')?;
    let mut name = None;
    let mut is_file = false;
    for param in value.split(';').map(str::trim) {
        if let Some((k, v)) = param.split_once('=') {
            let v = v.trim().trim_matches('"').to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(v),
                "filename" => is_file = true,
                _ => {}
            }
        }
    }
    name.map(|n| (n, is_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_fields_and_skips_files() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"account_id\"\r\n\r\nacc1\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"text\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--not\r\n\
            --XyZ\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"a.txt\"\r\n\r\nbin\r\n--XyZ--\r\n";
        let fields = parse("multipart/form-data; boundary=\"XyZ\"", body.as_bytes());
        assert_eq!(
            fields,
            Some(vec![
                ("account_id".to_string(), "acc1".to_string()),
                ("text".to_string(), "hello\r\n--not".to_string()),
            ])
        );
        assert_eq!(parse("application/json", body.as_bytes()), None);
        assert_eq!(
            parse("multipart/form-data; boundary=XyZ", b"--XyZ\r\nbroken"),
            None
        );
    }
}
