//! Parsing of numbers in exports: plain native amounts, and numbers written with the
//! separators and symbols a mapping declares. Timestamps and dates are read by
//! [`crate::time`].

/// Parses a plain decimal number (`1234.5`, `-3`, `1e3`). Native amounts carry no
/// symbols or separators; mappings declare those.
pub fn parse_number(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok(n),
        _ => Err(format!("`{value}` is not a number (expected e.g. 1234.50)")),
    }
}

/// How a mapped source writes numbers: decimal and thousands separators and the
/// currency symbols to strip, all declared in the mapping (never guessed).
#[derive(Debug, Clone, PartialEq)]
pub struct NumberFormat {
    pub decimal: char,
    pub thousands: Option<char>,
    pub strip: Vec<String>,
}

impl Default for NumberFormat {
    fn default() -> Self {
        NumberFormat {
            decimal: '.',
            thousands: None,
            strip: Vec::new(),
        }
    }
}

/// Parses a number written in `format`: declared symbols and spaces (including
/// no-break spaces) are removed, then the thousands separator, then the decimal
/// separator becomes a point. `1.234,50 €` with `,`/`.`/`€` is 1234.5.
pub fn parse_number_with(value: &str, format: &NumberFormat) -> Result<f64, String> {
    if *format == NumberFormat::default() {
        return parse_number(value);
    }
    let mut text = value.to_string();
    for symbol in &format.strip {
        text = text.replace(symbol.as_str(), "");
    }
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_whitespace() || c == '\u{a0}' || c == '\u{202f}' || Some(c) == format.thousands {
            continue;
        }
        cleaned.push(if c == format.decimal { '.' } else { c });
    }
    match cleaned.parse::<f64>() {
        Ok(n) if n.is_finite() && !cleaned.is_empty() => Ok(n),
        _ => Err(format!(
            "`{value}` is not a number in the declared format (decimal `{}`{}{})",
            format.decimal,
            format
                .thousands
                .map(|t| format!(", thousands `{t}`"))
                .unwrap_or_default(),
            if format.strip.is_empty() {
                String::new()
            } else {
                format!(", symbols {}", format.strip.join(" "))
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::*;
    use chrono_tz::Tz;

    #[test]
    fn dates_and_numbers() {
        assert_eq!(parse_date("1970-01-02").unwrap(), 1);
        assert_eq!(format_date(parse_date("2024-02-29").unwrap()), "2024-02-29");
        assert!(parse_date("2023-02-29").is_err());
        assert_eq!(parse_number("1234.5").unwrap(), 1234.5);
        assert!(parse_number("$12").is_err());
        assert!(parse_number("NaN").is_err());
    }

    #[test]
    fn declared_formats() {
        let eu = NumberFormat {
            decimal: ',',
            thousands: Some('.'),
            strip: vec!["€".into(), "EUR".into()],
        };
        assert_eq!(parse_number_with("1.234,50 €", &eu).unwrap(), 1234.5);
        assert_eq!(parse_number_with("-12,5", &eu).unwrap(), -12.5);
        assert_eq!(parse_number_with("EUR\u{a0}3.000", &eu).unwrap(), 3000.0);
        assert!(parse_number_with("$12", &eu).is_err());
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let ts = |v, f| format_timestamp(parse_timestamp_with(v, f, paris).unwrap());
        assert_eq!(ts("15/01/2025", "%d/%m/%Y"), "2025-01-14T23:00:00Z");
        assert_eq!(
            ts("07/15/2025 10:00", "%m/%d/%Y %H:%M"),
            "2025-07-15T08:00:00Z"
        );
        assert!(parse_timestamp_with("2025-01-15", "%d/%m/%Y", paris).is_err());
        assert_eq!(
            format_date(parse_date_with("29.02.2024", "%d.%m.%Y").unwrap()),
            "2024-02-29"
        );
        assert_eq!(
            format_date(parse_date_lenient("2025-07-15 23:30", paris).unwrap()),
            "2025-07-15"
        );
    }
}
