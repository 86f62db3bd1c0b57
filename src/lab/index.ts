// The lab builder: network-namespace labs for the tests and for `wireprobe demo`.

export { destroyLiveLabsSync, liveLabPrefixes } from "./cleanup";
export {
  DEFAULT_TIMEOUT_MS,
  ExecError,
  type ExecOptions,
  type ExecResult,
  formatCommand,
  run,
  runSync,
} from "./exec";
export {
  type ConnectOptions,
  Host,
  type HostExecOptions,
  type Interface,
  type LinkEnd,
  waitUntil,
} from "./host";
export { Lab, type LabOptions, Segment } from "./lab";
export { assertLabCidr, isLabCidr, isLabNamespace, LAB_NETWORKS, LAB_NS_PATTERN, labPrefixOf } from "./names";
export { listNamespaces, NETNS_DIR } from "./netns";
export {
  OWNER_DIR,
  type OwnerRecord,
  ownerAlive,
  RUN_ID_ENV,
  readOwner,
  type SweepResult,
  sweepStaleLabs,
} from "./owner";
