// The parts of EvaporateJS 2.1.4 this app uses (the package ships no types).
declare module "evaporate" {
  export interface ProgressStats {
    speed: number;
    readableSpeed: string;
    loaded: number;
    totalUploaded: number;
    remainingSize: number;
    secondsLeft: number;
    fileSize: number;
  }

  export interface EvaporateConfig {
    signerUrl: string;
    aws_key: string;
    aws_url: string;
    bucket: string;
    awsRegion: string;
    awsSignatureVersion: "4";
    sendCanonicalRequestToSignerUrl: boolean;
    computeContentMd5: boolean;
    cryptoMd5Method: (data: ArrayBuffer | Uint8Array) => string;
    /** Read parts through readableStreamPartMethod (start, inclusive end) instead of FileReader. */
    readableStreams?: boolean;
    readableStreamPartMethod?: (file: File, start: number, endInclusive: number) => unknown;
    cryptoHexEncodedHash256: (data: string | ArrayBuffer) => string;
    partSize: number;
    maxConcurrentParts: number;
    logging: boolean;
    onlyRetryForSameFileName?: boolean;
    maxRetryBackoffSecs?: number;
    progressIntervalMS?: number;
    s3FileCacheHoursAgo?: number | null;
    localTimeOffset?: number;
    /** Extra query parameters of every signer request (values may be functions called per request). */
    signParams?: Record<string, string | (() => string)>;
    /** Request headers of every signer request; per file only through add()'s second argument. */
    signHeaders?: Record<string, string | (() => string)>;
    xhrWithCredentials?: boolean;
  }

  export interface AddConfig {
    name: string;
    file: File;
    contentType?: string;
    started?: (fileKey: string) => void;
    uploadInitiated?: (s3UploadId: string) => void;
    progress?: (fraction: number, stats: ProgressStats) => void;
    complete?: (xhr: XMLHttpRequest, awsObjectKey: string, stats: ProgressStats) => void;
    cancelled?: () => void;
    paused?: () => void;
    pausing?: () => void;
    resumed?: () => void;
    nameChanged?: (awsObjectKey: string) => void;
    info?: (...message: unknown[]) => void;
    warn?: (...message: unknown[]) => void;
    error?: (message: string) => void;
    beforeSigner?: (xhr: XMLHttpRequest, url: string) => void;
  }

  export default class Evaporate {
    static create(config: EvaporateConfig): Promise<Evaporate>;
    add(file: AddConfig, overrides?: Partial<EvaporateConfig>): Promise<string>;
    pause(fileKey?: string, options?: { force?: boolean }): Promise<unknown>;
    resume(fileKey?: string): Promise<unknown>;
    cancel(fileKey?: string): Promise<unknown>;
  }
}
