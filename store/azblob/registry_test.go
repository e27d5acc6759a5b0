package azblob

import (
	"testing"

	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/storetest/registrysuite"
)

// replicaStores returns two stores on the same container and prefix.
func replicaStores(t *testing.T) (store.BlobStore, store.BlobStore) {
	container := testContainer(t)
	return newTestStore(t, container, "registry/", 0), newTestStore(t, container, "registry/", 0)
}

// TestRegistryReplicas runs an upload through two registry replicas sharing this store.
func TestRegistryReplicas(t *testing.T) {
	a, b := replicaStores(t)
	registrysuite.Replicas(t, a, b)
}

// TestRegistryRedirect checks blob GETs redirected to this store's signed URLs.
func TestRegistryRedirect(t *testing.T) {
	registrysuite.Redirect(t, newTestStore(t, testContainer(t), "registry/", 0))
}
