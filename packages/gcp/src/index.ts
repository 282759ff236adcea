// @mtlskit/gcp: work in progress.
export {};
