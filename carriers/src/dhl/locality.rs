//! DHL's free-text `addressLocality` read for what the canonical location needs. DHL often sends
//! no `countryCode` on events, only text such as `"Leeds, United Kingdom"`, `"Köln, Germany"`,
//! `"LEIPZIG - GERMANY"` (Express) or `"Oderweg 2, AMSTERDAM"` (street and city in one field). The
//! country is what resolves an offset-less event time, so this module recognises a trailing
//! country name (English, German or the local name) and nothing else: text it does not recognise
//! is kept whole as the city, and the time falls back to DHL's default zone, flagged as assumed.

/// The locality split into a city and the ISO 3166-1 alpha-2 code of a trailing country name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Locality {
    pub city: Option<String>,
    pub country: Option<&'static str>,
}

/// Splits `"City, Country"` or `"CITY - COUNTRY"`; a text without a recognised country is all city.
pub(crate) fn parse(text: &str) -> Locality {
    let text = text.trim();
    let split = [", ", ",", " - "]
        .iter()
        .filter_map(|sep| text.rfind(sep).map(|i| (i, sep.len())))
        .max_by_key(|(i, _)| *i);
    if let Some((at, len)) = split {
        let (head, tail) = (text[..at].trim(), text[at + len..].trim());
        if let Some(country) = country_code(tail) {
            return Locality {
                city: (!head.is_empty()).then(|| head.to_string()),
                country: Some(country),
            };
        }
    }
    match country_code(text) {
        Some(country) => Locality {
            city: None,
            country: Some(country),
        },
        None => Locality {
            city: (!text.is_empty()).then(|| text.to_string()),
            country: None,
        },
    }
}

/// An ISO alpha-2 code as DHL sends it in `countryCode`, upper-cased; other text is not one.
pub(crate) fn iso2(code: &str) -> Option<String> {
    let code = code.trim();
    (code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| code.to_ascii_uppercase())
}

/// Country names DHL writes in localities, lower-cased, with their alpha-2 code.
const COUNTRIES: &[(&str, &str)] = &[
    ("united kingdom", "GB"),
    ("great britain", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northern ireland", "GB"),
    ("uk", "GB"),
    ("vereinigtes königreich", "GB"),
    ("grossbritannien", "GB"),
    ("großbritannien", "GB"),
    ("germany", "DE"),
    ("deutschland", "DE"),
    ("netherlands", "NL"),
    ("the netherlands", "NL"),
    ("nederland", "NL"),
    ("niederlande", "NL"),
    ("belgium", "BE"),
    ("belgien", "BE"),
    ("belgië", "BE"),
    ("belgique", "BE"),
    ("france", "FR"),
    ("frankreich", "FR"),
    ("luxembourg", "LU"),
    ("luxemburg", "LU"),
    ("ireland", "IE"),
    ("irland", "IE"),
    ("spain", "ES"),
    ("spanien", "ES"),
    ("españa", "ES"),
    ("portugal", "PT"),
    ("italy", "IT"),
    ("italien", "IT"),
    ("italia", "IT"),
    ("switzerland", "CH"),
    ("schweiz", "CH"),
    ("austria", "AT"),
    ("österreich", "AT"),
    ("poland", "PL"),
    ("polen", "PL"),
    ("polska", "PL"),
    ("czech republic", "CZ"),
    ("czechia", "CZ"),
    ("tschechien", "CZ"),
    ("slovakia", "SK"),
    ("hungary", "HU"),
    ("ungarn", "HU"),
    ("denmark", "DK"),
    ("dänemark", "DK"),
    ("danmark", "DK"),
    ("sweden", "SE"),
    ("schweden", "SE"),
    ("sverige", "SE"),
    ("norway", "NO"),
    ("norwegen", "NO"),
    ("finland", "FI"),
    ("finnland", "FI"),
    ("estonia", "EE"),
    ("latvia", "LV"),
    ("lithuania", "LT"),
    ("greece", "GR"),
    ("griechenland", "GR"),
    ("romania", "RO"),
    ("rumänien", "RO"),
    ("bulgaria", "BG"),
    ("croatia", "HR"),
    ("slovenia", "SI"),
    ("turkey", "TR"),
    ("türkei", "TR"),
    ("japan", "JP"),
    ("china", "CN"),
    ("hong kong", "HK"),
    ("singapore", "SG"),
    ("india", "IN"),
    ("united arab emirates", "AE"),
    ("israel", "IL"),
    ("usa", "US"),
    ("united states", "US"),
    ("united states of america", "US"),
    ("canada", "CA"),
    ("australia", "AU"),
];

/// The alpha-2 code of a country name (case-insensitive), if we know the name.
pub(crate) fn country_code(name: &str) -> Option<&'static str> {
    let name = name.trim().to_lowercase();
    COUNTRIES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, code)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_country_names_are_recognised_and_the_rest_is_the_city() {
        let cases = [
            ("Leeds, United Kingdom", Some("Leeds"), Some("GB")),
            ("Köln, Germany", Some("Köln"), Some("DE")),
            ("LEIPZIG - GERMANY", Some("LEIPZIG"), Some("DE")),
            ("Bonn,Deutschland", Some("Bonn"), Some("DE")),
            ("Oderweg 2, AMSTERDAM", Some("Oderweg 2, AMSTERDAM"), None),
            ("Netherlands", None, Some("NL")),
            ("  ", None, None),
            ("CINCINNATI HUB - USA", Some("CINCINNATI HUB"), Some("US")),
        ];
        for (text, city, country) in cases {
            assert_eq!(
                parse(text),
                Locality {
                    city: city.map(str::to_string),
                    country
                },
                "{text}"
            );
        }
        assert_eq!(iso2(" de "), Some("DE".to_string()));
        assert_eq!(iso2("DEU"), None);
    }
}
