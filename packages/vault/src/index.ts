// @mtlskit/vault: work in progress.
export {};
