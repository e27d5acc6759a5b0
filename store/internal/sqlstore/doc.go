// Package sqlstore is the store.MetadataStore code that the SQL engines share: the
// schema and its migrations (Migrations, Migrate) and the transaction (Tx) with every
// query, written once in SQL that SQLite and PostgreSQL read alike. What differs
// between engines is described by a Dialect; opening the database, the isolation of
// transactions and retries stay in the engine's package (store/sqlite,
// store/postgres).
package sqlstore
