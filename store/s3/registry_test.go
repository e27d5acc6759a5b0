package s3

import (
	"testing"

	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/storetest/registrysuite"
)

// replicaStores returns two stores on the same bucket and prefix.
func replicaStores(t *testing.T) (store.BlobStore, store.BlobStore) {
	opts := testBucket(t)
	a, b := newTestStore(t, opts, "registry/", 0), newTestStore(t, opts, "registry/", 0)
	t.Cleanup(func() { checkNoLeftovers(t, a) })
	return a, b
}

// TestRegistryReplicas runs an upload through two registry replicas sharing this store.
func TestRegistryReplicas(t *testing.T) {
	a, b := replicaStores(t)
	registrysuite.Replicas(t, a, b)
}

// TestRegistryRedirect checks blob GETs redirected to this store's signed URLs.
func TestRegistryRedirect(t *testing.T) {
	registrysuite.Redirect(t, newTestStore(t, testBucket(t), "registry/", 0))
}
