//! Key-value storage traits and backends (memory, local files) for the KBS, AS and RVPS
