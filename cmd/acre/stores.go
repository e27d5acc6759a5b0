package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/acre-dev/acre/store"
	"github.com/acre-dev/acre/store/azblob"
	"github.com/acre-dev/acre/store/fs"
	"github.com/acre-dev/acre/store/postgres"
	"github.com/acre-dev/acre/store/s3"
	"github.com/acre-dev/acre/store/sqlite"
)

// openMetadataStore opens the metadata store: PostgreSQL for a postgres:// URL,
// otherwise the embedded SQLite database in the data directory.
func openMetadataStore(ctx context.Context, metadataURL, dataDir string) (store.MetadataStore, string, error) {
	switch {
	case strings.HasPrefix(metadataURL, "postgres://") || strings.HasPrefix(metadataURL, "postgresql://"):
		s, err := postgres.Open(ctx, metadataURL)
		if err != nil {
			return nil, "", fmt.Errorf("open PostgreSQL metadata store: %w", err)
		}
		return s, "PostgreSQL", nil
	case metadataURL == "" || metadataURL == "sqlite":
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, "", fmt.Errorf("create data directory: %w", err)
		}
		path := filepath.Join(dataDir, "metadata.db")
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, "", fmt.Errorf("open metadata store: %w", err)
		}
		return s, "SQLite " + path, nil
	}
	return nil, "", usageError{fmt.Errorf("--metadata %q: want postgres://... or nothing (embedded SQLite)", redactURL(metadataURL))}
}

// openBlobStore opens the blob store: Azure Blob Storage, S3, or the filesystem.
// Credentials come from the environment, never from the URL:
//
//	azblob://  AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_KEY with ?account=,
//	           or else Microsoft Entra ID (DefaultAzureCredential)
//	s3://      AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
func openBlobStore(storageURL, dataDir string) (store.BlobStore, string, error) {
	switch {
	case strings.HasPrefix(storageURL, "azblob://"):
		opts, err := azblob.ParseURL(storageURL)
		if err != nil {
			return nil, "", usageError{err}
		}
		switch {
		case os.Getenv("AZURE_STORAGE_CONNECTION_STRING") != "":
			opts.ConnectionString = os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
			if opts.AccountName == "" && !strings.Contains(storageURL, "endpoint=") {
				opts.ServiceURL = ""
			}
		case os.Getenv("AZURE_STORAGE_KEY") != "":
			opts.AccountKey = os.Getenv("AZURE_STORAGE_KEY")
			if opts.AccountName == "" {
				opts.AccountName = os.Getenv("AZURE_STORAGE_ACCOUNT")
			}
		default:
			cred, err := azidentity.NewDefaultAzureCredential(nil)
			if err != nil {
				return nil, "", fmt.Errorf("azblob storage: no AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY, and Microsoft Entra sign-in failed: %w", err)
			}
			opts.Credential = cred
		}
		s, err := azblob.New(opts)
		if err != nil {
			return nil, "", err
		}
		return s, "Azure Blob Storage container " + opts.Container, nil
	case strings.HasPrefix(storageURL, "s3://"):
		opts, err := s3.ParseURL(storageURL)
		if err != nil {
			return nil, "", usageError{err}
		}
		key, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		if key == "" || secret == "" {
			return nil, "", errors.New("s3 storage: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		opts.Credentials = s3.StaticCredentials(key, secret, os.Getenv("AWS_SESSION_TOKEN"))
		if opts.Region == "" {
			opts.Region = os.Getenv("AWS_REGION")
		}
		s, err := s3.New(opts)
		if err != nil {
			return nil, "", err
		}
		return s, "S3 bucket " + opts.Bucket, nil
	case storageURL == "" || strings.HasPrefix(storageURL, "file://") || !strings.Contains(storageURL, "://"):
		dir := strings.TrimPrefix(storageURL, "file://")
		if dir == "" {
			dir = filepath.Join(dataDir, "blobs")
		}
		s, err := fs.New(dir)
		if err != nil {
			return nil, "", fmt.Errorf("open blob store: %w", err)
		}
		return s, "files in " + dir, nil
	}
	return nil, "", usageError{fmt.Errorf("--storage %q: want azblob://, s3://, a directory, or nothing", redactURL(storageURL))}
}

// redactURL hides credentials someone put in a URL before it is printed.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		if at := strings.LastIndex(s[i+3:], "@"); at >= 0 {
			return s[:i+3] + "REDACTED@" + s[i+3+at+1:]
		}
	}
	return s
}
