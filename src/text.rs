//! Text for people: numbers with thousands separators, and values made safe to show
//! on a terminal. Used by every layer; uses none of them.

/// `1234567` as `1,234,567`, for summaries people read.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `text` with its control characters shown as escapes (`\u{1b}`), so that a value
/// from a file can never move the cursor, clear the screen or retitle the window of
/// the terminal it is printed on. Tabs and line breaks stay.
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(
            super::terminal_safe("a\u{1b}]0;PWNED\u{7}\u{1b}[2Jb\tc\n"),
            "a\\u{1b}]0;PWNED\\u{7}\\u{1b}[2Jb\tc\n"
        );
        assert_eq!(super::terminal_safe("été"), "été");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(2000), "2,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
