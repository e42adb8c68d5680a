// Names for the API's types, all from the generated schema.d.ts (npm run gen:api).
import type { components } from "./schema";

type Schemas = components["schemas"];

export type AuthConfig = Schemas["AuthConfig"];
export type AccessToken = Schemas["AccessToken"];
export type Me = Schemas["Me"];
export type Project = Schemas["ProjectOut"];
export type Dataset = Schemas["DatasetOut"];
export type Upload = Schemas["UploadOut"];
export type UploadCompleted = Schemas["VersionOut"];
export type FileRow = Schemas["FileOut"];
export type FileDetail = Schemas["FileDetail"];
export type FileVersion = Schemas["VersionOut"];
export type FilePage = Schemas["FilePage"];
export type DownloadLink = Schemas["DownloadLink"];
export type DownloadLinks = Schemas["DownloadLinks"];
