// What the upload queue reads from EvaporateJS 2.1.4's internals, and the two fixes its pause/resume needs.
//
// EvaporateJS keeps, per file, which parts S3 has acknowledged (`s3Parts[n].status === COMPLETE`); the queue
// reads it to show what the storage holds ("Paused – 96 MiB of 160 MiB stored"). A forced pause
// (`pause(key, {force: true})`) aborts the parts in flight and keeps every finished part; `resume()` sends only
// the rest. Two defects of 2.1.4 make that unreliable, fixed here at run time (the prototype is reached
// through a part request, EvaporateJS exports none of its classes):
// - a part whose signature was being fetched when the pause came is sent anyway once it is signed (even
//   alongside the resumed upload's own send of it), and a retry timer scheduled before the pause sends a part
//   again while the resumed upload already sends it: a part request now leaves only while its file is not
//   paused, and never while the same part is in flight;
// - a part keeps its cached canonical request (with its old x-amz-date) when it is aborted by a pause, or when
//   a second attempt (a retry timer, a resume) authorizes while the first is still being signed: the signer
//   refuses a request whose x-amz-date is not the string-to-sign's date. Each authorization (each new
//   x-amz-date) now computes its canonical request anew;
// - parts are started in a promise chain (`lastPartSatisfied`) whose link for an aborted part never resolves,
//   and the instance's count of busy slots drifts: both are reset before a resume (one instance per file).
const EVAPORATING = 2;
const COMPLETE = 3;
const PAUSED = 4;
const PAUSING = 30;

interface S3Part {
  status: number;
  partNumber: number;
  awsRequest?: PartRequest;
}

interface PartRequest {
  part: S3Part;
  authorize(): Promise<unknown>;
  signer?: { _cr?: string };
  inFlight?: boolean;
  fileUpload: FileUpload;
  send(): unknown;
  sendRequestToAWS(): Promise<unknown>;
}

interface FileUpload {
  status: number;
  uploadId?: string;
  s3Parts: (S3Part | undefined)[];
  lastPartSatisfied: Promise<unknown>;
}

interface Instance {
  pendingFiles: Record<string, FileUpload | undefined>;
  evaporatingCount: number;
}

let patched = false;

function fileUpload(evaporate: unknown, fileKey: string): FileUpload | undefined {
  return (evaporate as Instance | undefined)?.pendingFiles?.[fileKey];
}

function patchPartRequests(upload: FileUpload): void {
  if (patched) return;
  const request = upload.s3Parts.find((p) => p?.awsRequest)?.awsRequest;
  if (!request) return;
  const proto = Object.getPrototypeOf(request) as PartRequest;
  const send = proto.send;
  const sendRequestToAWS = proto.sendRequestToAWS;
  const authorize = proto.authorize;
  proto.authorize = function (this: PartRequest) {
    // authorize() stamps a new x-amz-date; a canonical request cached by an earlier attempt still has the old one.
    if (this.signer) this.signer._cr = undefined;
    return authorize.call(this);
  };
  proto.send = function (this: PartRequest) {
    if (this.part.status === EVAPORATING) return undefined; // already on its way (a stale retry timer)
    // The canonical request is cached per part and dropped only on errors seen while not paused: a part aborted
    // by a pause would be signed again with its old x-amz-date, which the signer refuses. Each send signs anew.
    if (this.signer) this.signer._cr = undefined;
    return send.call(this);
  };
  proto.sendRequestToAWS = function (this: PartRequest) {
    if (this.fileUpload.status === PAUSED || this.fileUpload.status === PAUSING) return Promise.reject("paused");
    // A signature requested before a pause can arrive after the resume sent the part again, or even after S3
    // acknowledged it: one PUT per part at a time, none once it is stored. That late chain just ends (a promise
    // that never settles), leaving the part to the request that is under way or done.
    if (this.inFlight || this.part.status === COMPLETE) return new Promise(() => undefined);
    this.inFlight = true;
    return sendRequestToAWS.call(this).finally(() => {
      this.inFlight = false;
    });
  };
  patched = true;
}

/** True once EvaporateJS has an S3 upload id and its parts: from then on a pause keeps every finished part. */
export function hasParts(evaporate: unknown, fileKey: string): boolean {
  const upload = fileUpload(evaporate, fileKey);
  if (!upload?.uploadId || !upload.s3Parts.some((p) => p?.awsRequest || p?.status === COMPLETE)) return false;
  patchPartRequests(upload);
  return true;
}

/** Bytes of the parts S3 has acknowledged (listed on resume, or answered 200 to their PUT). */
export function storedBytes(evaporate: unknown, fileKey: string, size: number, partSize: number): number {
  const upload = fileUpload(evaporate, fileKey);
  if (!upload) return 0;
  let stored = 0;
  for (const part of upload.s3Parts) {
    if (part?.status === COMPLETE) stored += Math.max(0, Math.min(partSize, size - (part.partNumber - 1) * partSize));
  }
  return stored;
}

/** Before `resume()`: a fresh start chain and slot count (the instance serves this one file only). */
export function prepareResume(evaporate: unknown, fileKey: string): void {
  const upload = fileUpload(evaporate, fileKey);
  if (upload) upload.lastPartSatisfied = Promise.resolve("resume");
  const instance = evaporate as Instance;
  instance.evaporatingCount = 0;
}
