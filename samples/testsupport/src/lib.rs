//! Test support shared by the host tests (`ckpt-image`, `ckpt`) and the
//! VM suite (`harness`): the one sample-image builder, and the set-up of
//! the golden images the kernel made (`samples/testdata/golden/`).

pub mod contents;
pub mod golden;

use ckpt_image::*;

/// An image as the kernel would write it, built from a description:
/// the files (objref 1, 2, ... in the order added) and the fds that use
/// them, and the superblock sections, if any (then the image is a version 2
/// one, with CHECKPOINT_CONTENTS; else version 1).  Records come out in the
/// kernel's order: HEADER, FS, root, cwd, the sections, FILE_TABLE, then per fd (ascending) the file's OBJREF, FILE, FILE_NAME
/// and FILE_FS (if it has one) at its first use, then the FILE_DESC; last
/// the TAIL.
#[derive(Clone, Debug)]
pub struct SampleImage {
    pub header: Header,
    pub umask: u32,
    pub root: Vec<u8>,
    pub cwd: Vec<u8>,
    sbs: Vec<SbSection>,
    files: Vec<(File, Vec<u8>, Option<FileFs>)>,
    fds: Vec<FileDesc>,
}

/// A regular file (generic type, mode 0644) with these `f_mode`, `f_flags`
/// and position.
pub fn regular(f_mode: u32, f_flags: u32, f_pos: i64) -> File {
    File {
        f_type: CKPT_FILE_GENERIC,
        f_mode,
        f_flags,
        i_mode: 0o100644,
        f_pos,
    }
}

impl SampleImage {
    /// No fds; crid 1, pid 1, release "6.12.0", umask 022, root "/".
    pub fn new(cwd: &str) -> SampleImage {
        SampleImage {
            header: Header::new(1, 1, "6.12.0"),
            umask: 0o22,
            root: b"/".to_vec(),
            cwd: cwd.as_bytes().to_vec(),
            sbs: Vec::new(),
            files: Vec::new(),
            fds: Vec::new(),
        }
    }

    /// The HEADER's id, pid and release.
    pub fn id(mut self, crid: u64, pid: i32, release: &str) -> SampleImage {
        self.header = Header::new(crid, pid, release);
        self
    }

    /// Add a file named `name`; it gets the next objref (1, 2, ...).
    pub fn file(mut self, name: &str, file: File) -> SampleImage {
        self.files.push((file, name.as_bytes().to_vec(), None));
        self
    }

    /// Give the file added last a FILE_FS record.
    pub fn file_fs(mut self, fs: FileFs) -> SampleImage {
        self.files.last_mut().expect("file_fs() after file()").2 = Some(fs);
        self
    }

    /// Add a superblock section (its sb_id is the caller's).
    pub fn sb(mut self, section: SbSection) -> SampleImage {
        self.sbs.push(section);
        self
    }

    /// Add fd `fd` on the file of objref `objref`.
    pub fn fd(mut self, fd: i32, objref: i32, close_on_exec: bool) -> SampleImage {
        self.fds.push(FileDesc {
            fd_objref: objref,
            fd,
            close_on_exec: close_on_exec as u32,
            reserved: 0,
        });
        self
    }

    /// Every record but the TAIL.
    pub fn records(&self) -> Vec<Record> {
        let mut fds = self.fds.clone();
        fds.sort_by_key(|d| d.fd);
        let header = if self.sbs.is_empty() {
            self.header.clone()
        } else {
            self.header.clone().with_contents()
        };
        let mut v = vec![
            Record::Header(header),
            Record::Fs(Fs {
                umask: self.umask,
                reserved: 0,
            }),
            Record::FileName(self.root.clone()),
            Record::FileName(self.cwd.clone()),
        ];
        for s in &self.sbs {
            v.extend(s.to_records());
        }
        v.push(Record::FileTable(FileTable {
            nr_fds: fds.len() as u32,
            reserved: 0,
        }));
        let mut seen = Vec::new();
        for d in fds {
            if !seen.contains(&d.fd_objref) {
                seen.push(d.fd_objref);
                let (file, name, fs) = &self.files[d.fd_objref as usize - 1];
                v.push(Record::Objref(Objref {
                    objtype: CKPT_OBJ_FILE,
                    objref: d.fd_objref,
                }));
                v.push(Record::File(file.clone()));
                v.push(Record::FileName(name.clone()));
                if let Some(fs) = fs {
                    v.push(Record::FileFs(fs.clone()));
                }
            }
            v.push(Record::FileDesc(d));
        }
        v
    }

    /// The image: [`records`](Self::records) and a TAIL.
    pub fn bytes(&self) -> Vec<u8> {
        encode_with_tail(&self.records())
    }
}

/// A small valid image of two files below `dir` (`a` at fd 3, `b` at fd 4
/// position 1, both O_RDWR), as the kernel writes them: the sample the
/// decoder tests, the corruption table and the mutator start from.
pub fn two_files(dir: &str) -> Vec<u8> {
    SampleImage::new("/")
        .id(3, 77, "6.12.0")
        .file(&format!("{dir}/a"), regular(3, 0o100002, 0))
        .file(&format!("{dir}/b"), regular(3, 0o100002, 1))
        .fd(3, 1, false)
        .fd(4, 2, false)
        .bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_what_it_describes() {
        let b = SampleImage::new("/mnt/x")
            .id(9, 42, "6.12.9")
            .file("/mnt/x/a", regular(3, 0o2, 5))
            .file("/mnt/x/b", regular(1, 0, 0))
            .fd(7, 1, true)
            .fd(3, 1, false)
            .fd(4, 2, false)
            .bytes();
        let im = decode(&b).unwrap();
        assert_eq!((im.header.crid, im.header.pid), (9, 42));
        assert_eq!(im.header.release_str(), "6.12.9");
        assert_eq!(im.cwd, b"/mnt/x");
        let fds: Vec<_> = im.fds.iter().map(|d| (d.fd, d.fd_objref)).collect();
        assert_eq!(fds, vec![(3, 1), (4, 2), (7, 1)]);
        assert_eq!(im.file_of(&im.fds[1]).unwrap().name, b"/mnt/x/b");
        assert_eq!(im.file_of(&im.fds[0]).unwrap().file.f_pos, 5);
        assert_eq!(im.fds[2].close_on_exec, 1);
        assert!(im.files.iter().all(|f| f.fs.is_none()));
    }

    #[test]
    fn carries_a_file_fs() {
        let fs = FileFs {
            fs_name: b"ramfs_cr".to_vec(),
            fs_version: 1,
            data: vec![7; 24],
        };
        let b = SampleImage::new("/mnt/x")
            .file("/mnt/x/a", regular(3, 0o2, 5))
            .file("/mnt/x/d", regular(1, 0o200000, 2))
            .file_fs(fs.clone())
            .fd(3, 1, false)
            .fd(4, 2, false)
            .bytes();
        let im = decode(&b).unwrap();
        assert_eq!(im.files[0].fs, None);
        assert_eq!(im.files[1].fs.as_ref(), Some(&fs));
        assert_eq!(im.encode(), b);
    }
}
