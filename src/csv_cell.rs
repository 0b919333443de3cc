//! CSV cells that are safe to open in a spreadsheet. Police open scan and report exports in
//! Excel or LibreOffice, and a seized file name such as `=HYPERLINK(…)` would run there as a
//! formula. A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a
//! leading `'`, which spreadsheets show as text (OWASP's advice for CSV injection). Numbers
//! (`-1.5`) are left as they are.

use std::borrow::Cow;

/// `text` as a CSV cell that no spreadsheet evaluates.
pub fn safe(text: &str) -> Cow<'_, str> {
    let risky = matches!(
        text.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    );
    if risky && text.parse::<f64>().is_err() {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::safe;

    #[test]
    fn formulas_become_text_and_numbers_stay() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1+1",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
        ] {
            assert_eq!(safe(formula), format!("'{formula}"), "{formula:?}");
        }
        for plain in ["", "evidence/a.jpg", "-1.5", "+3", "1e9", "a=b", "'quoted"] {
            assert_eq!(safe(plain), plain, "{plain:?}");
        }
    }
}
