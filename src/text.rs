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

/// A fraction as a percentage with one decimal, `0.4432` as `44.3 %`: the one way a
/// rate is written in tiles, chart subtitles and tables.
pub fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    // -0.04 % rounds to "-0.0 %": a rate that small is 0.
    let p = if p.abs() < 0.05 { 0.0 } else { p };
    format!("{p:.1} %")
}

/// An amount in a currency as people read it: thousands separators, whole units from
/// 1,000 on, and the currency code (`1,351,796 USD`).
pub fn amount(v: f64, currency: &str) -> String {
    let sign = if v < 0.0 && v.abs() >= 0.5 { "-" } else { "" };
    let a = v.abs();
    let digits = if a >= 1000.0 || a.fract() == 0.0 {
        thousands(a.round() as u64)
    } else {
        format!("{a:.2}")
    };
    if currency.is_empty() {
        format!("{sign}{digits}")
    } else {
        format!("{sign}{digits} {currency}")
    }
}

/// A funnel stage as people write it: `MQL`, `SAL`, `SQL` in capitals, the others
/// as they are (`lead`, `opportunity`, `customer`).
pub fn stage_label(stage: &str) -> String {
    match stage {
        "mql" | "sal" | "sql" => stage.to_uppercase(),
        other => other.to_string(),
    }
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

/// The first `n` items, each in backticks, joined by commas, and how many more: a
/// list of ten million column names must not become a 99 MB warning line.
pub fn first_few(items: &[String], n: usize) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(n)
        .map(|i| {
            format!(
                "`{}`",
                terminal_safe(&i.chars().take(80).collect::<String>())
            )
        })
        .collect();
    match items.len().saturating_sub(n) {
        0 => shown.join(", "),
        more => format!("{} and {} more", shown.join(", "), thousands(more as u64)),
    }
}

/// The Levenshtein distance between two strings, in characters: how a mistyped
/// value finds the values it was meant to be.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let old = row[j + 1];
            row[j + 1] = (old + 1).min(row[j] + 1).min(prev + usize::from(ca != *cb));
            prev = old;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(super::edit_distance("webinar", "webinar"), 0);
        assert_eq!(super::edit_distance("webinr", "webinar"), 1);
        assert_eq!(super::edit_distance("", "abc"), 3);
        assert_eq!(super::edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(
            super::terminal_safe("a\u{1b}]0;PWNED\u{7}\u{1b}[2Jb\tc\n"),
            "a\\u{1b}]0;PWNED\\u{7}\\u{1b}[2Jb\tc\n"
        );
        assert_eq!(super::terminal_safe("été"), "été");
    }

    #[test]
    fn long_lists_are_cut() {
        let items: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
        assert_eq!(super::first_few(&items[..2], 10), "`c0`, `c1`");
        assert_eq!(super::first_few(&items, 3), "`c0`, `c1`, `c2` and 22 more");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(2000), "2,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
