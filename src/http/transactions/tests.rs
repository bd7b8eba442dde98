use super::*;

fn row<'a>(cells: impl IntoIterator<Item = Cell<'a>>) -> String {
    let mut out = String::new();
    csv_row(&mut out, cells);
    out
}

#[test]
fn csv_fields_are_quoted_as_rfc_4180_says() {
    assert_eq!(
        row([
            Cell::Text("plain"),
            Cell::Empty,
            Cell::Number(7000.0),
            Cell::Number(0.6)
        ]),
        "plain,,7000,0.6\r\n"
    );
    assert_eq!(row([Cell::Text("a,b")]), "\"a,b\"\r\n");
    assert_eq!(row([Cell::Text("say \"hi\"")]), "\"say \"\"hi\"\"\"\r\n");
    assert_eq!(row([Cell::Text("two\nlines")]), "\"two\nlines\"\r\n");
    assert_eq!(row([Cell::Text("cr\rhere")]), "\"cr\rhere\"\r\n");
    assert_eq!(row([Cell::Text("Grüße")]), "Grüße\r\n");
}

#[test]
fn csv_text_a_spreadsheet_would_run_is_defused() {
    // OWASP "CSV Injection": a cell beginning with = + - @ tab or CR is a formula.
    for bad in [
        "=HYPERLINK(\"http://x\")",
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\tx",
        "\rx",
    ] {
        let out = row([Cell::Text(bad)]);
        assert!(out.starts_with("\"'"), "{bad:?} -> {out:?}");
    }
    assert_eq!(row([Cell::Text("=1,2")]), "\"'=1,2\"\r\n");
    // Our own numbers are never prefixed; a token with a dash inside is left alone.
    assert_eq!(row([Cell::Number(-1.5), Cell::Text("A-1")]), "-1.5,A-1\r\n");
}

fn signed(context: &str, data: &str) -> SignedRecord {
    SignedRecord {
        ts: "2026-11-24T10:00:00.000Z".into(),
        measurand: "Energy.Active.Import.Register".into(),
        context: Some(context.into()),
        phase: None,
        value: None,
        data: data.into(),
        signing_method: None,
        encoding_method: None,
        public_key: None,
    }
}

#[test]
fn the_signed_start_and_stop_are_begin_and_end_or_the_oldest_and_newest() {
    let list = [
        signed("Sample.Periodic", "p1"),
        signed("Transaction.Begin", "begin"),
        signed("Transaction.End", "end"),
        signed("Sample.Periodic", "p2"),
    ];
    let (start, stop) = signed_ends(&list);
    assert_eq!(
        (start.unwrap().data.as_str(), stop.unwrap().data.as_str()),
        ("begin", "end")
    );
    let periodic = [
        signed("Sample.Periodic", "p1"),
        signed("Sample.Periodic", "p2"),
    ];
    let (start, stop) = signed_ends(&periodic);
    assert_eq!(
        (start.unwrap().data.as_str(), stop.unwrap().data.as_str()),
        ("p1", "p2")
    );
    let one = [signed("Sample.Periodic", "p1")];
    assert!(signed_ends(&one).1.is_none());
    assert_eq!(signed_ends(&[]), (None, None));
}

#[test]
fn the_next_page_link_keeps_the_filters_and_moves_the_cursor() {
    assert_eq!(
        next_link("charger=CP-1&after=3&format=csv", 42),
        "</api/v1/transactions?charger=CP-1&format=csv&after=42>; rel=\"next\""
    );
    assert_eq!(
        next_link("", 7),
        "</api/v1/transactions?after=7>; rel=\"next\""
    );
}
