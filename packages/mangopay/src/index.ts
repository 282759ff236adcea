// @mtlskit/mangopay: work in progress.
export {};
