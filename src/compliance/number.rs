//! NANP telephone numbers: parsing any common written form into a checked ten-digit number,
//! and the rules that make a number unassignable (it can never ring a subscriber).
//!
//! This module owns the *shape* of a number and its non-geographic service classes
//! (toll-free, premium, ...). Which of them a tenant may dial, and the country a geographic
//! area code belongs to, are decided by the compliance gate on top of it.

use std::fmt;

/// A syntactically valid NANP number (`NPA-NXX-XXXX`), held as its ten digits.
///
/// Held as a `u64` so that sets of millions of numbers (the DNC registry) stay compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NanpNumber(u64);

impl NanpNumber {
    /// The ten digits as one integer, e.g. `2015550123`.
    pub fn digits(self) -> u64 {
        self.0
    }

    /// Rebuilds a number from its ten digits, checking the NANP shape.
    pub fn from_digits(digits: u64) -> Result<Self, NumberError> {
        if !(2_000_000_000..=9_999_999_999).contains(&digits) {
            return Err(NumberError::Malformed("not ten NANP digits"));
        }
        let number = NanpNumber(digits);
        if number.nxx() < 200 {
            return Err(NumberError::InvalidExchange);
        }
        Ok(number)
    }

    /// The area code (NPA), e.g. `201`.
    pub fn npa(self) -> u16 {
        (self.0 / 10_000_000) as u16
    }

    /// The central office code (NXX), e.g. `555`.
    pub fn nxx(self) -> u16 {
        ((self.0 / 10_000) % 1000) as u16
    }

    /// The line number (last four digits).
    pub fn line(self) -> u16 {
        (self.0 % 10_000) as u16
    }

    /// The E.164 form, `+1` followed by the ten digits.
    pub fn e164(self) -> String {
        let mut text = String::with_capacity(12);
        text.push_str("+1");
        let mut digits = [0u8; 10];
        let mut rest = self.0;
        for digit in digits.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        digits.iter().for_each(|&d| text.push(char::from(d)));
        text
    }
}

impl fmt::Display for NanpNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+1{}", self.0)
    }
}

/// Why a text is not a NANP number at all (`INVALID_NUMBER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("not a NANP number: {0}")]
    Malformed(&'static str),
    #[error("area code must start with a digit 2-9")]
    InvalidAreaCode,
    #[error("exchange code must start with a digit 2-9")]
    InvalidExchange,
}

/// Why a well-formed number can never reach a subscriber (`NOT_DIALABLE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unassignable {
    #[error("area code {0} is an N11 service code")]
    ServiceCodeAreaCode(u16),
    #[error("exchange {0} is an N11 service code")]
    ServiceCodeExchange(u16),
    #[error("area code {0} is reserved (N9X, 37X, 96X)")]
    ReservedAreaCode(u16),
    #[error("555-01XX numbers are reserved for fiction")]
    Fictional,
}

/// Parses a number written the usual ways: `+1 (201) 555-0123`, `1-201-555-0123`,
/// `201.555.0123`, `2015550123`. Letters, extensions and other country codes are refused.
pub fn parse(input: &str) -> Result<NanpNumber, NumberError> {
    let trimmed = input.trim();
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    // After a "+" comes the country code: anything but 1 is another country, however long.
    if trimmed.starts_with('+') && !body.trim_start_matches([' ', '(']).starts_with('1') {
        return Err(NumberError::Malformed("country code is not +1"));
    }
    let mut digits: u64 = 0;
    let mut count = 0usize;
    for c in body.chars() {
        match c {
            '0'..='9' => {
                count += 1;
                if count > 11 {
                    return Err(NumberError::Malformed("too many digits"));
                }
                digits = digits * 10 + u64::from(c as u8 - b'0');
            }
            ' ' | '-' | '.' | '(' | ')' | '\u{a0}' => {}
            _ => return Err(NumberError::Malformed("unexpected character")),
        }
    }
    let ten = match count {
        10 => digits,
        11 if digits / 10_000_000_000 == 1 => digits % 10_000_000_000,
        11 => return Err(NumberError::Malformed("country code is not +1")),
        _ => return Err(NumberError::Malformed("a NANP number has ten digits")),
    };
    if ten / 1_000_000_000 < 2 {
        return Err(NumberError::InvalidAreaCode);
    }
    NanpNumber::from_digits(ten)
}

/// Rules that hold for every tenant: numbers no carrier will ever assign to a subscriber.
pub fn unassignable(number: NanpNumber) -> Option<Unassignable> {
    let (npa, nxx) = (number.npa(), number.nxx());
    if npa % 100 == 11 {
        return Some(Unassignable::ServiceCodeAreaCode(npa));
    }
    if (npa / 10) % 10 == 9 || npa / 10 == 37 || npa / 10 == 96 {
        return Some(Unassignable::ReservedAreaCode(npa));
    }
    if nxx % 100 == 11 {
        return Some(Unassignable::ServiceCodeExchange(nxx));
    }
    if nxx == 555 && (100..200).contains(&number.line()) {
        return Some(Unassignable::Fictional);
    }
    None
}

/// Non-geographic service classes (`NOT_DIALABLE` unless a tenant's [`NumberPolicy`] allows
/// the toll-free ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ServiceClass {
    #[error("toll-free number (8XX)")]
    TollFree,
    #[error("area code {0} is reserved for toll-free expansion")]
    TollFreeReserved(u16),
    #[error("premium-rate number (900)")]
    Premium,
    #[error("area code 600/622 is Canadian non-geographic")]
    CanadianNonGeographic,
    #[error("area code 700 is an inter-exchange carrier service code")]
    InterExchange,
    #[error("area code 710 is reserved for the U.S. government")]
    Government,
    /// [UNSURE] Historically local pay-per-call; the research could not source it, so the
    /// stricter reading blocks every NXX 976.
    #[error("exchange 976 is a pay-per-call exchange")]
    PayPerCall,
}

/// The service class of a number by its fixed NPA or NXX, if it is not an ordinary one.
/// (Personal-communications 5XX codes are the 5XX area codes that are not geographic; the
/// gate tells them apart with its area-code table.)
pub fn service_class(number: NanpNumber) -> Option<ServiceClass> {
    match number.npa() {
        800 | 833 | 844 | 855 | 866 | 877 | 888 => Some(ServiceClass::TollFree),
        npa @ (822 | 880..=887 | 889) => Some(ServiceClass::TollFreeReserved(npa)),
        900 => Some(ServiceClass::Premium),
        600 | 622 => Some(ServiceClass::CanadianNonGeographic),
        700 => Some(ServiceClass::InterExchange),
        710 => Some(ServiceClass::Government),
        _ if number.nxx() == 976 => Some(ServiceClass::PayPerCall),
        _ => None,
    }
}

/// What a tenant has chosen to dial beyond U.S. geographic numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NumberPolicy {
    /// Toll-free (8XX) numbers: business lines, callable under the federal baseline.
    pub allow_toll_free: bool,
    /// Canadian numbers (CRTC hours then apply; outdial holds no Canadian DNCL).
    pub allow_canada: bool,
    /// Caribbean NANP countries (international calls, outside TCPA and U.S. state rules).
    pub allow_caribbean: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_forms_parse_to_the_same_number() {
        for text in
            ["+1 (201) 555-0234", "1-201-555-0234", "201.555.0234", "2015550234", " +12015550234 ", "(201) 555 0234"]
        {
            let n = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(n.e164(), "+12015550234", "{text}");
            assert_eq!((n.npa(), n.nxx(), n.line()), (201, 555, 234));
        }
    }

    #[test]
    fn malformed_texts_are_invalid_numbers() {
        let cases = [
            ("", NumberError::Malformed("a NANP number has ten digits")),
            ("555-0234", NumberError::Malformed("a NANP number has ten digits")),
            ("+44 20 7946 0958", NumberError::Malformed("country code is not +1")),
            ("+33 1 23 45 67 89", NumberError::Malformed("country code is not +1")),
            ("+2015550234", NumberError::Malformed("country code is not +1")),
            ("+52 55 1234 5678", NumberError::Malformed("country code is not +1")),
            ("22015550234", NumberError::Malformed("country code is not +1")),
            ("201555023x", NumberError::Malformed("unexpected character")),
            ("201-555-0234 ext 5", NumberError::Malformed("unexpected character")),
            ("120155502345", NumberError::Malformed("too many digits")),
            ("101-555-0234", NumberError::InvalidAreaCode),
            ("001-555-0234", NumberError::InvalidAreaCode),
            ("201-055-0234", NumberError::InvalidExchange),
            ("201-155-0234", NumberError::InvalidExchange),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn unassignable_numbers_are_named() {
        let cases = [
            ("411-555-0234", Some(Unassignable::ServiceCodeAreaCode(411))),
            ("295-555-0234", Some(Unassignable::ReservedAreaCode(295))),
            ("372-555-0234", Some(Unassignable::ReservedAreaCode(372))),
            ("965-555-0234", Some(Unassignable::ReservedAreaCode(965))),
            ("201-911-0234", Some(Unassignable::ServiceCodeExchange(911))),
            ("201-555-0100", Some(Unassignable::Fictional)),
            ("201-555-0199", Some(Unassignable::Fictional)),
            ("201-555-0200", None),
            ("201-555-0099", None),
            ("212-456-7890", None),
        ];
        for (text, expected) in cases {
            assert_eq!(unassignable(parse(text).unwrap()), expected, "{text}");
        }
    }

    #[test]
    fn service_classes_are_named() {
        let cases = [
            ("800-234-5678", Some(ServiceClass::TollFree)),
            ("833-234-5678", Some(ServiceClass::TollFree)),
            ("888-234-5678", Some(ServiceClass::TollFree)),
            ("822-234-5678", Some(ServiceClass::TollFreeReserved(822))),
            ("885-234-5678", Some(ServiceClass::TollFreeReserved(885))),
            ("900-234-5678", Some(ServiceClass::Premium)),
            ("600-234-5678", Some(ServiceClass::CanadianNonGeographic)),
            ("622-234-5678", Some(ServiceClass::CanadianNonGeographic)),
            ("700-234-5678", Some(ServiceClass::InterExchange)),
            ("710-234-5678", Some(ServiceClass::Government)),
            ("212-976-5678", Some(ServiceClass::PayPerCall)),
            ("212-234-5678", None),
            ("876-234-5678", None),
        ];
        for (text, expected) in cases {
            assert_eq!(service_class(parse(text).unwrap()), expected, "{text}");
        }
    }
}
