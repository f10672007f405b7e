//! The dashboard at `/ui`, in headless Chromium. (Filled in below.)
