//! s3s-fs made safe for several processes over one data directory. Every `s3cache` process
//! without an endpoint runs its own server over the same directory, and s3s-fs assumes it is
//! alone: it checks `If-Match` / `If-None-Match` and then writes without a lock (two conditional
//! writes can both pass), names its temporary files from a per-process counter (two processes
//! write the same temporary file), and reads an object's bytes and its ETag from two files (a
//! reader can pair old bytes with a new ETag), and deletes every temporary file it finds when it
//! starts. A file lock in the data directory orders them: starts and writes hold it
//! exclusively, object reads shared.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};
use s3s_fs::FileSystem;

/// The lock file; its name starts with a dot, which no bucket name does, so s3s-fs lists no
/// bucket for it.
const LOCK_FILE: &str = ".s3cache-lock";

/// The file system store, with ordered access.
pub struct LockedFs {
    fs: FileSystem,
    lock_path: PathBuf,
}

/// How a request holds the lock.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Alone: it changes objects.
    Write,
    /// With other readers: it reads an object and its metadata.
    Read,
}

impl LockedFs {
    /// Serves `root` (which must exist).
    pub fn new(root: &Path) -> anyhow::Result<LockedFs> {
        let lock_path = root.join(LOCK_FILE);
        // s3s-fs deletes every temporary file it finds when it starts, another process's
        // write in progress included: it starts only while no one writes.
        let lock = open_lock(&lock_path)
            .and_then(|file| file.lock().map(|()| file))
            .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", lock_path.display()))?;
        let fs = FileSystem::new(root)
            .map_err(|e| anyhow::anyhow!("cannot serve {}: {e:?}", root.display()))?;
        drop(lock);
        Ok(LockedFs { fs, lock_path })
    }

    /// Takes the lock; dropping the file releases it.
    async fn lock(&self, access: Access) -> S3Result<File> {
        let failed =
            |e: std::io::Error| s3_error!(InternalError, "cannot lock the data directory: {e}");
        let file = open_lock(&self.lock_path).map_err(failed)?;
        let attempt = match access {
            Access::Write => file.try_lock(),
            Access::Read => file.try_lock_shared(),
        };
        match attempt {
            Ok(()) => Ok(file),
            // Another process holds it: wait on a blocking thread, not on the async runtime.
            Err(TryLockError::WouldBlock) => tokio::task::spawn_blocking(move || {
                match access {
                    Access::Write => file.lock()?,
                    Access::Read => file.lock_shared()?,
                }
                Ok::<File, std::io::Error>(file)
            })
            .await
            .map_err(|e| s3_error!(InternalError, "lock task failed: {e}"))?
            .map_err(failed),
            Err(TryLockError::Error(e)) => Err(failed(e)),
        }
    }
}

#[async_trait::async_trait]
impl S3 for LockedFs {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.put_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.delete_objects(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.copy_object(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.complete_multipart_upload(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.create_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        // The body streams from a file opened here; a later write renames a new file into
        // place, so the bytes stay those that go with the ETag read here.
        let _lock = self.lock(Access::Read).await?;
        self.fs.get_object(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let _lock = self.lock(Access::Read).await?;
        self.fs.head_object(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.fs.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let _lock = self.lock(Access::Write).await?;
        self.fs.abort_multipart_upload(req).await
    }
}

fn open_lock(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}
