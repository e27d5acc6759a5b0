package acrapi_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/containers/azcontainerregistry"
)

// TestPagingEveryOrder pages through tags and manifests with n=3 in each order,
// with several items sharing a timestamp: every item comes exactly once, in order.
func TestPagingEveryOrder(t *testing.T) {
	e := newEnv(t)
	base := e.clock.Now()
	// Ten tags on ten images; timestamps in groups of three that tie.
	type item struct {
		tag  string
		dgst string
		at   time.Time
	}
	var items []item
	for i := range 10 {
		at := base.Add(time.Duration(i/3) * time.Second)
		e.clock.Set(at)
		tag := fmt.Sprintf("t%02d", (i*7)%10) // tag names not in time order
		d, _ := e.pushImage("paged", tag, "amd64", []byte(fmt.Sprintf("layer %d", i)))
		items = append(items, item{tag, string(d), at})
	}
	// Expected orders: lexical; time ascending with ties by name ascending; time
	// descending with ties by name descending.
	byTag := slices.Clone(items)
	sort.Slice(byTag, func(i, j int) bool { return byTag[i].tag < byTag[j].tag })
	asc := slices.Clone(items)
	sort.SliceStable(asc, func(i, j int) bool {
		if !asc[i].at.Equal(asc[j].at) {
			return asc[i].at.Before(asc[j].at)
		}
		return asc[i].tag < asc[j].tag
	})
	desc := slices.Clone(asc)
	slices.Reverse(desc)

	tests := []struct {
		name  string
		order *azcontainerregistry.ArtifactTagOrderBy
		want  []item
	}{
		{"none", nil, byTag},
		{"timeasc", to.Ptr(azcontainerregistry.ArtifactTagOrderByLastUpdatedOnAscending), asc},
		{"timedesc", to.Ptr(azcontainerregistry.ArtifactTagOrderByLastUpdatedOnDescending), desc},
	}
	for _, tc := range tests {
		t.Run("tags "+tc.name, func(t *testing.T) {
			got := names(e.listTags("paged", &azcontainerregistry.ClientListTagsOptions{MaxNum: to.Ptr(int32(3)), OrderBy: tc.order}))
			var want []string
			for _, it := range tc.want {
				want = append(want, it.tag)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
	// Manifests: the images plus no others; ties broken by digest.
	mAsc := slices.Clone(items)
	sort.SliceStable(mAsc, func(i, j int) bool {
		if !mAsc[i].at.Equal(mAsc[j].at) {
			return mAsc[i].at.Before(mAsc[j].at)
		}
		return mAsc[i].dgst < mAsc[j].dgst
	})
	mDesc := slices.Clone(mAsc)
	slices.Reverse(mDesc)
	mLex := slices.Clone(items)
	sort.Slice(mLex, func(i, j int) bool { return mLex[i].dgst < mLex[j].dgst })
	mtests := []struct {
		name  string
		order *azcontainerregistry.ArtifactManifestOrderBy
		want  []item
	}{
		{"none", to.Ptr(azcontainerregistry.ArtifactManifestOrderByNone), mLex},
		{"timeasc", to.Ptr(azcontainerregistry.ArtifactManifestOrderByLastUpdatedOnAscending), mAsc},
		{"timedesc", to.Ptr(azcontainerregistry.ArtifactManifestOrderByLastUpdatedOnDescending), mDesc},
	}
	for _, tc := range mtests {
		t.Run("manifests "+tc.name, func(t *testing.T) {
			var got, want []string
			for _, m := range e.listManifests("paged", &azcontainerregistry.ClientListManifestsOptions{MaxNum: to.Ptr(int32(3)), OrderBy: tc.order}) {
				got = append(got, *m.Digest)
				if len(m.Tags) != 1 {
					t.Errorf("manifest %s has tags %v, want one", *m.Digest, m.Tags)
				}
			}
			for _, it := range tc.want {
				want = append(want, it.dgst)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got  %v\nwant %v", got, want)
			}
		})
	}
	t.Run("moving a tag updates its time", func(t *testing.T) {
		later := base.Add(time.Hour)
		e.clock.Set(later)
		e.pushImage("paged", "t00", "arm64", []byte("moved"))
		p, err := e.client.GetTagProperties(context.Background(), "paged", "t00", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Tag.LastUpdatedOn.Equal(later) || p.Tag.CreatedOn.Equal(later) {
			t.Fatalf("after moving: created %v updated %v", p.Tag.CreatedOn, p.Tag.LastUpdatedOn)
		}
		first := e.listTags("paged", &azcontainerregistry.ClientListTagsOptions{MaxNum: to.Ptr(int32(1)),
			OrderBy: to.Ptr(azcontainerregistry.ArtifactTagOrderByLastUpdatedOnDescending)})
		if *first[0].Name != "t00" {
			t.Fatalf("newest tag is %s, want t00", *first[0].Name)
		}
	})
}

// TestDeleteImagesKeepNewestThree is the seed scenario: list manifests newest
// first and delete all but three, tags first.
func TestDeleteImagesKeepNewestThree(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var pushed []string
	for i := range 6 {
		e.clock.Set(e.clock.Now().Add(time.Minute))
		d, _ := e.pushImage("keep", fmt.Sprintf("v%d", i), "amd64", []byte(fmt.Sprintf("layer %d", i)))
		pushed = append(pushed, string(d))
	}
	pager := e.client.NewListManifestsPager("keep", &azcontainerregistry.ClientListManifestsOptions{
		OrderBy: to.Ptr(azcontainerregistry.ArtifactManifestOrderByLastUpdatedOnDescending)})
	kept := 0
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Manifests.Attributes {
			if kept < 3 {
				kept++
				continue
			}
			for _, tag := range m.Tags {
				if _, err := e.client.DeleteTag(ctx, "keep", *tag, nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := e.client.DeleteManifest(ctx, "keep", *m.Digest, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	var left []string
	for _, m := range e.listManifests("keep", nil) {
		left = append(left, *m.Digest)
	}
	slices.Sort(left)
	want := slices.Clone(pushed[3:])
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("left %v, want the newest three %v", left, want)
	}
	if got := names(e.listTags("keep", nil)); !slices.Equal(got, []string{"v3", "v4", "v5"}) {
		t.Fatalf("tags left %v", got)
	}
}
