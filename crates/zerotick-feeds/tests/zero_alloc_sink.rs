//! `CsvSink` allocates nothing per signal or row, also for names it writes quoted: the quoted
//! field is made once, when the sink learns the name. A counting global allocator watches the
//! calling thread.

use std::io;

use zerotick_core::{FeatureRecord, Signal, Sink, SymbolTable};
use zerotick_feeds::CsvSink;
use zerotick_mem::counting::counting;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn emits_allocate_nothing_once_names_are_learned() {
    let names = ["BTCUSDT", "A,B", "X\n1,FAKE,9e99", "say \"hi\"", ""];
    let mut table = SymbolTable::new(64);
    let mut sink = CsvSink::new(io::sink(), table.names()).unwrap();
    let mut rows = CsvSink::with_columns(io::sink(), table.names(), &["a", "b"], true).unwrap();
    let ids: Vec<u32> = names.iter().map(|n| table.intern(n).unwrap()).collect();
    let signal = |i: usize| Signal {
        ts_ns: i as u64,
        symbol: ids[i % ids.len()],
        value: i as f64 * 0.5,
    };
    let values = [1.5, f64::NAN];
    let row = |i: usize| FeatureRecord {
        ts_ns: i as u64,
        symbol: ids[i % ids.len()],
        values: &values,
        signal: Some(-0.25),
    };
    // Warm-up: the sinks learn every name (quoting the hostile ones allocates here).
    for i in 0..names.len() {
        sink.emit(&signal(i)).unwrap();
        rows.emit_row(&row(i)).unwrap();
    }
    let allocations = counting(|| {
        for i in 0..100_000 {
            sink.emit(&signal(i)).unwrap();
            rows.emit_row(&row(i)).unwrap();
        }
    });
    assert_eq!(allocations, 0);
    // A plain name learned later costs nothing either (the local table is reserved).
    let late = table.intern("ETHUSDT").unwrap();
    let allocations = counting(|| {
        sink.emit(&Signal {
            ts_ns: 1,
            symbol: late,
            value: 1.0,
        })
        .unwrap();
    });
    assert_eq!(allocations, 0, "a plain name's first signal");
    // The instrument works: learning a name that needs quoting allocates its field.
    let quoted = table.intern("C,D").unwrap();
    let allocations = counting(|| {
        sink.emit(&Signal {
            ts_ns: 2,
            symbol: quoted,
            value: 1.0,
        })
        .unwrap();
    });
    assert!(allocations > 0);
}
