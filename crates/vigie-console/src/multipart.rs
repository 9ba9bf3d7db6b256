//! `multipart/form-data` (RFC 7578) as the console's forms send it: the
//! CSV import's file upload works without JavaScript. The body is already
//! bounded by the guard (`FORM_BYTES_MAX`) and read whole; parts are
//! slices of it.

/// Parts read from one body at most (a form of the console has a handful).
const PARTS_MAX: usize = 32;

/// One field of a multipart body.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: &'a str,
    /// The file's name, for a file field.
    pub filename: Option<&'a str>,
    pub data: &'a [u8],
}

/// The boundary of a `multipart/form-data` content type, if it is one.
pub fn boundary(content_type: &str) -> Option<&str> {
    let mut params = content_type.split(';');
    if !params
        .next()?
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        let v = v.trim().trim_matches('"');
        (k.trim().eq_ignore_ascii_case("boundary") && (1..=70).contains(&v.len())).then_some(v)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The value of `key="…"` in a `Content-Disposition` header.
fn disposition_param<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    header.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        (k.trim().eq_ignore_ascii_case(key)).then(|| v.trim().trim_matches('"'))
    })
}

/// Every part of `body`; none when the body is not well formed.
pub fn parts<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut rest = &body[find(body, delimiter)? + delimiter.len()..];
    let mut out = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Some(out);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        if out.len() == PARTS_MAX {
            return None;
        }
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..head_end]).ok()?;
        let content = &rest[head_end + 4..];
        let mut end_marker = b"\r\n".to_vec();
        end_marker.extend_from_slice(delimiter);
        let end = find(content, &end_marker)?;
        let disposition = head.split("\r\n").find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-disposition")
                .then_some(v.trim())
        })?;
        out.push(Part {
            name: disposition_param(disposition, "name")?,
            filename: disposition_param(disposition, "filename"),
            data: &content[..end],
        });
        rest = &content[end + end_marker.len()..];
    }
}

/// The text of field `name` (the first with that name).
pub fn field<'a>(body: &'a [u8], content_type: &str, name: &str) -> Option<&'a str> {
    let b = boundary(content_type)?;
    parts(body, b)?
        .into_iter()
        .find(|p| p.name == name)
        .and_then(|p| std::str::from_utf8(p.data).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"--XyZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\ntok-1\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"shops.csv\"\r\nContent-Type: text/csv\r\n\r\nreference,name\r\nA,\"B\"\r\n\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"csv\"\r\n\r\n\r\n--XyZ--\r\n";

    #[test]
    fn a_browsers_upload_reads_as_its_fields() {
        let ct = "multipart/form-data; boundary=XyZ";
        assert_eq!(boundary(ct), Some("XyZ"));
        assert_eq!(
            boundary("multipart/form-data; boundary=\"XyZ\""),
            Some("XyZ")
        );
        let p = parts(BODY, "XyZ").expect("parts");
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].name, p[0].data), ("_csrf", &b"tok-1"[..]));
        assert_eq!(p[1].filename, Some("shops.csv"));
        assert_eq!(p[1].data, b"reference,name\r\nA,\"B\"\r\n");
        assert_eq!((p[2].name, p[2].data), ("csv", &b""[..]));
        assert_eq!(field(BODY, ct, "_csrf"), Some("tok-1"));
        assert_eq!(field(BODY, ct, "nothing"), None);
    }

    #[test]
    fn a_broken_body_or_another_type_reads_as_nothing() {
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
        assert_eq!(boundary("multipart/form-data"), None);
        for cut in [10, 40, 80, BODY.len() - 8] {
            assert_eq!(parts(&BODY[..cut], "XyZ"), None, "cut at {cut}");
        }
        assert_eq!(parts(b"no delimiter at all", "XyZ"), None);
        let many: Vec<u8> = (0..=PARTS_MAX)
            .flat_map(|i| {
                format!("--b\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n")
                    .into_bytes()
            })
            .chain(b"--b--".iter().copied())
            .collect();
        assert_eq!(parts(&many, "b"), None, "too many parts");
    }
}
