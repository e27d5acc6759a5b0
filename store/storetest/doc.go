// Package storetest is the shared test suite every store implementation must pass.
//
// The suites are ordinary functions taking a *testing.T, in non-test files, so that
// each implementation's own tests call them against a fresh instance of the store:
//
//	func TestConformance(t *testing.T) {
//		storetest.TestMetadataStore(t, func(t *testing.T) store.MetadataStore { ... })
//	}
package storetest
