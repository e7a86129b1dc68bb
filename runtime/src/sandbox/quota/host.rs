//! Our `wasi:filesystem/types`: wasmtime-wasi's implementation with the quota's accounting
//! around every operation that can grow or shrink `/tmp` (see the table in the module
//! above). Descriptors of read-only preopens (`/app`) are forwarded untouched, except that
//! `open-at` counts every descriptor it makes against the open-file caps (`sandbox::fds`).

use std::io;
use std::sync::Arc;

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::FsPerms;
use wasmtime_wasi::filesystem::{Descriptor, File, WasiFilesystemCtxView};
use wasmtime_wasi::p2::bindings::filesystem::types::{
    self, Advice, DescriptorFlags, DescriptorStat, DescriptorType, DirectoryEntry,
    DirectoryEntryStream, ErrorCode, Filesize, HostDescriptor, HostDirectoryEntryStream,
    MetadataHashValue, NewTimestamp, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, FsError, FsResult};
use wasmtime_wasi::runtime::spawn_blocking;

use super::stream::{Mode, QuotaStream, write_counted};
use super::{FileId, INODE_BYTES, Op, QuotaExceeded, TmpQuota};
use crate::sandbox::fds::Fds;
/// Replaces wasmtime-wasi's `wasi:filesystem/types` in `linker` (already holding
/// `wasmtime_wasi::p2::add_to_linker_async`) with the quota-counting one, reaching each store
/// through `view`. Shadowing is allowed for this call only.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> TmpFsView<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = types::add_to_linker::<T, TmpFs>(linker, view);
    linker.allow_shadowing(false);
    result
}

/// The [`HasData`] marker of our implementation.
struct TmpFs;

impl HasData for TmpFs {
    type Data<'a> = TmpFsView<'a>;
}

/// wasmtime-wasi's file-system view of a store plus the Micro's quota and the instance's
/// descriptor count.
pub struct TmpFsView<'a> {
    fs: WasiFilesystemCtxView<'a>,
    quota: &'a Arc<TmpQuota>,
    fds: &'a mut Fds,
}

impl<'a> TmpFsView<'a> {
    /// wasmtime-wasi's view `fs` of a store, counted against `quota`; every descriptor
    /// `open-at` makes is counted in `fds`.
    pub fn new(fs: WasiFilesystemCtxView<'a>, quota: &'a Arc<TmpQuota>, fds: &'a mut Fds) -> Self {
        TmpFsView { fs, quota, fds }
    }
}

/// A second handle on the same table entry, for calling more than one forwarded method.
fn again(fd: &Resource<Descriptor>) -> Resource<Descriptor> {
    Resource::new_borrow(fd.rep())
}

fn no_space(_: QuotaExceeded) -> FsError {
    ErrorCode::InsufficientSpace.into()
}

/// `insufficient-space` for the quota's own error, wasmtime-wasi's mapping otherwise.
fn io_error(e: io::Error) -> FsError {
    if is_quota_error(&e) {
        ErrorCode::InsufficientSpace.into()
    } else {
        e.into()
    }
}

fn is_quota_error(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<QuotaExceeded>())
}

fn file_id(h: MetadataHashValue) -> FileId {
    (h.lower, h.upper)
}

impl TmpFsView<'_> {
    /// The file behind `fd` if it is under the read-write preopen (`/tmp`).
    fn tmp_file(&self, fd: &Resource<Descriptor>) -> FsResult<Option<File>> {
        Ok(match self.fs.table.get(fd)? {
            Descriptor::File(f) if f.perms == FsPerms::ReadWrite => Some(f.clone()),
            _ => None,
        })
    }

    /// Whether `fd` is a directory under the read-write preopen (`/tmp`).
    fn is_tmp_dir(&self, fd: &Resource<Descriptor>) -> FsResult<bool> {
        Ok(matches!(
            self.fs.table.get(fd)?,
            Descriptor::Dir(d) if d.perms == FsPerms::ReadWrite
        ))
    }

    async fn stat_at(
        &mut self,
        dir: &Resource<Descriptor>,
        flags: PathFlags,
        path: &str,
    ) -> FsResult<DescriptorStat> {
        HostDescriptor::stat_at(&mut self.fs, again(dir), flags, path.to_string()).await
    }

    async fn id_at(&mut self, dir: &Resource<Descriptor>, path: &str) -> Option<FileId> {
        HostDescriptor::metadata_hash_at(&mut self.fs, again(dir), PathFlags::empty(), path.into())
            .await
            .ok()
            .map(file_id)
    }

    /// What the name `path` in `dir` holds, for releasing it once it is gone: its stat
    /// and, for a file's last name, its identity.
    async fn about_to_go(
        &mut self,
        dir: &Resource<Descriptor>,
        path: &str,
    ) -> Result<(DescriptorStat, Option<FileId>), ErrorCode> {
        let stat = match self.stat_at(dir, PathFlags::empty(), path).await {
            Ok(s) => s,
            Err(e) => return Err(e.downcast().unwrap_or(ErrorCode::Io)),
        };
        let id = if stat.type_ == DescriptorType::RegularFile && stat.link_count <= 1 {
            self.id_at(dir, path).await
        } else {
            None
        };
        Ok((stat, id))
    }

    async fn open_at_counted(
        &mut self,
        op: &Op,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let creates = oflags.contains(OpenFlags::CREATE);
        let truncates = oflags.contains(OpenFlags::TRUNCATE);
        let before = if creates || truncates {
            Some(self.stat_at(&fd, path_flags, &path).await)
        } else {
            None
        };
        let absent =
            matches!(&before, Some(Err(e)) if e.downcast_ref() == Some(&ErrorCode::NoEntry));
        let new_entry = creates && absent;
        if new_entry {
            op.add_entry().map_err(no_space)?;
        }
        let opened =
            HostDescriptor::open_at(&mut self.fs, fd, path_flags, path, oflags, flags).await;
        let new_fd = match opened {
            Ok(new_fd) => new_fd,
            Err(e) => {
                if new_entry {
                    op.remove_entry();
                }
                return Err(e);
            }
        };
        if creates && !absent && before.as_ref().is_some_and(|b| b.is_err()) {
            // Could not tell whether this created the file: recount.
            op.recount_later();
        }
        let file = match self.fs.table.get(&new_fd)? {
            Descriptor::File(f) => f.file.clone(),
            Descriptor::Dir(_) => return Ok(new_fd),
        };
        match HostDescriptor::metadata_hash(&mut self.fs, again(&new_fd)).await {
            Ok(h) => op.register(file_id(h), &file),
            Err(_) => op.recount_later(),
        }
        if truncates
            && let Some(Ok(old)) = before
            && old.type_ == DescriptorType::RegularFile
        {
            let f = file.clone();
            match spawn_blocking(move || f.metadata()).await {
                Ok(m) => op.settle(0, old.size, m.len()),
                Err(_) => op.recount_later(),
            }
        }
        Ok(new_fd)
    }
}

impl types::Host for TmpFsView<'_> {
    fn convert_error_code(&mut self, err: FsError) -> wasmtime::Result<ErrorCode> {
        types::Host::convert_error_code(&mut self.fs, err)
    }

    fn filesystem_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let e = self.fs.table.get(&err)?;
        if e.downcast_ref::<io::Error>().is_some_and(is_quota_error) {
            return Ok(Some(ErrorCode::InsufficientSpace));
        }
        types::Host::filesystem_error_code(&mut self.fs, err)
    }
}

impl HostDescriptor for TmpFsView<'_> {
    async fn advise(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
        len: Filesize,
        advice: Advice,
    ) -> FsResult<()> {
        HostDescriptor::advise(&mut self.fs, fd, offset, len, advice).await
    }

    async fn sync_data(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync_data(&mut self.fs, fd).await
    }

    async fn get_flags(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorFlags> {
        HostDescriptor::get_flags(&mut self.fs, fd).await
    }

    async fn get_type(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorType> {
        HostDescriptor::get_type(&mut self.fs, fd).await
    }

    async fn set_size(&mut self, fd: Resource<Descriptor>, size: Filesize) -> FsResult<()> {
        let Some(file) = self.tmp_file(&fd)? else {
            return HostDescriptor::set_size(&mut self.fs, fd, size).await;
        };
        let op = self.quota.begin().await;
        let file = file.file;
        spawn_blocking(move || {
            let old = match file.metadata() {
                Ok(m) => m.len(),
                Err(e) => {
                    op.finish();
                    return Err(io_error(e));
                }
            };
            let growth = size.saturating_sub(old);
            if let Err(e) = op.charge(growth) {
                op.finish();
                return Err(no_space(e));
            }
            let result = file.set_len(size);
            match file.metadata() {
                Ok(m) => {
                    op.settle(growth, old, m.len());
                    op.note_len(&file, m.len());
                    op.finish();
                }
                Err(_) => drop(op),
            }
            result.map_err(io_error)
        })
        .await
    }

    async fn set_times(
        &mut self,
        fd: Resource<Descriptor>,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times(&mut self.fs, fd, atim, mtim).await
    }

    async fn read(
        &mut self,
        fd: Resource<Descriptor>,
        len: Filesize,
        offset: Filesize,
    ) -> FsResult<(Vec<u8>, bool)> {
        HostDescriptor::read(&mut self.fs, fd, len, offset).await
    }

    async fn write(
        &mut self,
        fd: Resource<Descriptor>,
        buf: Vec<u8>,
        offset: Filesize,
    ) -> FsResult<Filesize> {
        let Some(file) = self.tmp_file(&fd)? else {
            return HostDescriptor::write(&mut self.fs, fd, buf, offset).await;
        };
        let op = self.quota.begin().await;
        let file = file.file;
        let n = spawn_blocking(move || write_counted(op, &file, &buf, Mode::At(offset), false))
            .await
            .map_err(io_error)?;
        Ok(n as Filesize)
    }

    async fn read_directory(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DirectoryEntryStream>> {
        HostDescriptor::read_directory(&mut self.fs, fd).await
    }

    async fn sync(&mut self, fd: Resource<Descriptor>) -> FsResult<()> {
        HostDescriptor::sync(&mut self.fs, fd).await
    }

    async fn create_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        if !self.is_tmp_dir(&fd)? {
            return HostDescriptor::create_directory_at(&mut self.fs, fd, path).await;
        }
        let op = self.quota.begin().await;
        let result = match op.add_inode() {
            Ok(()) => HostDescriptor::create_directory_at(&mut self.fs, fd, path)
                .await
                .inspect_err(|_| op.remove_inode()),
            Err(e) => Err(no_space(e)),
        };
        op.finish();
        result
    }

    async fn stat(&mut self, fd: Resource<Descriptor>) -> FsResult<DescriptorStat> {
        HostDescriptor::stat(&mut self.fs, fd).await
    }

    async fn stat_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
    ) -> FsResult<DescriptorStat> {
        HostDescriptor::stat_at(&mut self.fs, fd, path_flags, path).await
    }

    async fn set_times_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        atim: NewTimestamp,
        mtim: NewTimestamp,
    ) -> FsResult<()> {
        HostDescriptor::set_times_at(&mut self.fs, fd, path_flags, path, atim, mtim).await
    }

    async fn link_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path_flags: PathFlags,
        old_path: String,
        new_descriptor: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        if !self.is_tmp_dir(&fd)? {
            return HostDescriptor::link_at(
                &mut self.fs,
                fd,
                old_path_flags,
                old_path,
                new_descriptor,
                new_path,
            )
            .await;
        }
        // A new name for an existing inode: no bytes, one entry.
        let op = self.quota.begin().await;
        let result = match op.add_entry() {
            Ok(()) => HostDescriptor::link_at(
                &mut self.fs,
                fd,
                old_path_flags,
                old_path,
                new_descriptor,
                new_path,
            )
            .await
            .inspect_err(|_| op.remove_entry()),
            Err(e) => Err(no_space(e)),
        };
        op.finish();
        result
    }

    /// Every descriptor opened is counted against the open-file caps (`quota` past them);
    /// under `/tmp` its bytes and name against the quota, too.
    async fn open_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
        oflags: OpenFlags,
        flags: DescriptorFlags,
    ) -> FsResult<Resource<Descriptor>> {
        let guard = self
            .fds
            .take(self.fs.table)
            .map_err(|_| FsError::from(ErrorCode::Quota))?;
        let opened = if self.is_tmp_dir(&fd)? {
            let op = self.quota.begin().await;
            let result = self
                .open_at_counted(&op, fd, path_flags, path, oflags, flags)
                .await;
            op.finish();
            result
        } else {
            HostDescriptor::open_at(&mut self.fs, fd, path_flags, path, oflags, flags).await
        }?;
        let handle = match self.fs.table.get(&opened)? {
            Descriptor::File(f) => f.file.clone(),
            Descriptor::Dir(d) => d.dir.clone(),
        };
        self.fds.hold_file(&handle, guard);
        Ok(opened)
    }

    fn drop(&mut self, fd: Resource<Descriptor>) -> wasmtime::Result<()> {
        HostDescriptor::drop(&mut self.fs, fd)
    }

    async fn readlink_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<String> {
        HostDescriptor::readlink_at(&mut self.fs, fd, path).await
    }

    async fn remove_directory_at(
        &mut self,
        fd: Resource<Descriptor>,
        path: String,
    ) -> FsResult<()> {
        if !self.is_tmp_dir(&fd)? {
            return HostDescriptor::remove_directory_at(&mut self.fs, fd, path).await;
        }
        let op = self.quota.begin().await;
        let result = HostDescriptor::remove_directory_at(&mut self.fs, fd, path).await;
        if result.is_ok() {
            op.remove_inode();
        }
        op.finish();
        result
    }

    async fn rename_at(
        &mut self,
        fd: Resource<Descriptor>,
        old_path: String,
        new_fd: Resource<Descriptor>,
        new_path: String,
    ) -> FsResult<()> {
        if !self.is_tmp_dir(&fd)? || !self.is_tmp_dir(&new_fd)? {
            return HostDescriptor::rename_at(&mut self.fs, fd, old_path, new_fd, new_path).await;
        }
        let op = self.quota.begin().await;
        // Renaming onto an existing name removes what that name held, unless both names
        // are links to one file (then POSIX rename does nothing).
        let target = self.about_to_go(&new_fd, &new_path).await;
        let same_file = match &target {
            Ok(_) => {
                let to = self.id_at(&new_fd, &new_path).await;
                to.is_some() && to == self.id_at(&fd, &old_path).await
            }
            Err(_) => false,
        };
        let result = HostDescriptor::rename_at(&mut self.fs, fd, old_path, new_fd, new_path).await;
        if result.is_ok() {
            match target {
                Ok(_) if same_file => {}
                Ok((stat, id)) => release_name(&op, &stat, id),
                Err(ErrorCode::NoEntry) => {}
                Err(_) => op.recount_later(),
            }
        }
        op.finish();
        result
    }

    async fn symlink_at(
        &mut self,
        fd: Resource<Descriptor>,
        src_path: String,
        dest_path: String,
    ) -> FsResult<()> {
        if !self.is_tmp_dir(&fd)? {
            return HostDescriptor::symlink_at(&mut self.fs, fd, src_path, dest_path).await;
        }
        let op = self.quota.begin().await;
        let result = match op.add_inode() {
            Ok(()) => HostDescriptor::symlink_at(&mut self.fs, fd, src_path, dest_path)
                .await
                .inspect_err(|_| op.remove_inode()),
            Err(e) => Err(no_space(e)),
        };
        op.finish();
        result
    }

    async fn unlink_file_at(&mut self, fd: Resource<Descriptor>, path: String) -> FsResult<()> {
        if !self.is_tmp_dir(&fd)? {
            return HostDescriptor::unlink_file_at(&mut self.fs, fd, path).await;
        }
        let op = self.quota.begin().await;
        let target = self.about_to_go(&fd, &path).await;
        let result = HostDescriptor::unlink_file_at(&mut self.fs, fd, path).await;
        if result.is_ok() {
            match target {
                Ok((stat, id)) => release_name(&op, &stat, id),
                Err(_) => op.recount_later(),
            }
        }
        op.finish();
        result
    }

    fn read_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynInputStream>> {
        HostDescriptor::read_via_stream(&mut self.fs, fd, offset)
    }

    fn write_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
        offset: Filesize,
    ) -> FsResult<Resource<DynOutputStream>> {
        match self.tmp_file(&fd)? {
            Some(f) => self.counted_stream(f, Mode::At(offset)),
            None => HostDescriptor::write_via_stream(&mut self.fs, fd, offset),
        }
    }

    fn append_via_stream(
        &mut self,
        fd: Resource<Descriptor>,
    ) -> FsResult<Resource<DynOutputStream>> {
        match self.tmp_file(&fd)? {
            Some(f) => self.counted_stream(f, Mode::Append),
            None => HostDescriptor::append_via_stream(&mut self.fs, fd),
        }
    }

    async fn is_same_object(
        &mut self,
        a: Resource<Descriptor>,
        b: Resource<Descriptor>,
    ) -> wasmtime::Result<bool> {
        HostDescriptor::is_same_object(&mut self.fs, a, b).await
    }

    async fn metadata_hash(&mut self, fd: Resource<Descriptor>) -> FsResult<MetadataHashValue> {
        HostDescriptor::metadata_hash(&mut self.fs, fd).await
    }

    async fn metadata_hash_at(
        &mut self,
        fd: Resource<Descriptor>,
        path_flags: PathFlags,
        path: String,
    ) -> FsResult<MetadataHashValue> {
        HostDescriptor::metadata_hash_at(&mut self.fs, fd, path_flags, path).await
    }
}

impl TmpFsView<'_> {
    fn counted_stream(&mut self, f: File, mode: Mode) -> FsResult<Resource<DynOutputStream>> {
        let stream: DynOutputStream = Box::new(QuotaStream::new(f.file, self.quota.clone(), mode));
        Ok(self.fs.table.push(stream)?)
    }
}

/// A name that held `stat` is gone (unlinked, or replaced by a rename).
fn release_name(op: &Op, stat: &DescriptorStat, id: Option<FileId>) {
    op.remove_entry();
    let last_link = stat.link_count <= 1;
    match stat.type_ {
        DescriptorType::RegularFile if last_link => match id {
            Some(id) => op.forget_file(id, stat.size),
            None => op.release(stat.size),
        },
        DescriptorType::RegularFile => {}
        DescriptorType::Directory => op.release(INODE_BYTES),
        _ if last_link => op.release(INODE_BYTES),
        _ => {}
    }
}

impl HostDirectoryEntryStream for TmpFsView<'_> {
    async fn read_directory_entry(
        &mut self,
        stream: Resource<DirectoryEntryStream>,
    ) -> FsResult<Option<DirectoryEntry>> {
        HostDirectoryEntryStream::read_directory_entry(&mut self.fs, stream).await
    }

    fn drop(&mut self, stream: Resource<DirectoryEntryStream>) -> wasmtime::Result<()> {
        HostDirectoryEntryStream::drop(&mut self.fs, stream)
    }
}
