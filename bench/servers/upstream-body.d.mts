export declare const UPSTREAM_BODY: Buffer;
