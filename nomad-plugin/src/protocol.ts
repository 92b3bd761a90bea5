/**
 * The plugin's gRPC services, from the project's .proto files under nomad-plugin/proto. The
 * bundle (`make nomad-plugin`) carries their text inside it, so the one executable file needs
 * nothing beside it; unbundled (tests), they are read from the folder.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type GrpcObject, type ServiceDefinition } from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import protobuf from 'protobufjs';

export const PROTO_FILES = ['go_plugin.proto', 'health.proto', 'hclspec.proto', 'structs.proto', 'base.proto', 'driver.proto', 'status.proto'] as const;
const GOOGLE_IMPORTS = ['google/protobuf/empty.proto', 'google/protobuf/duration.proto', 'google/protobuf/timestamp.proto', 'google/protobuf/any.proto'];

// put in by the bundler (scripts/bundle-nomad-plugin.mjs): file name → text
declare const __DECKHAND_NOMAD_PROTOS__: Record<string, string> | undefined;

function protoText(name: string): string {
  if (typeof __DECKHAND_NOMAD_PROTOS__ !== 'undefined') return __DECKHAND_NOMAD_PROTOS__[name];
  // compiled layout: dist/nomad-plugin/src/protocol.js → nomad-plugin/proto
  return readFileSync(fileURLToPath(new URL(`../../../nomad-plugin/proto/${name}`, import.meta.url)), 'utf8');
}

export interface Protocol {
  root: protobuf.Root;
  services: {
    health: ServiceDefinition;
    controller: ServiceDefinition;
    stdio: ServiceDefinition;
    broker: ServiceDefinition;
    base: ServiceDefinition;
    driver: ServiceDefinition;
  };
}

let loaded: Protocol | undefined;

export function protocol(): Protocol {
  if (loaded) return loaded;
  const root = new protobuf.Root();
  for (const name of GOOGLE_IMPORTS) root.addJSON(protobuf.common.get(name)!.nested!);
  for (const name of PROTO_FILES) protobuf.parse(protoText(name), root, { keepCase: true });
  root.resolveAll();
  const definition = fromJSON(root.toJSON(), { keepCase: true, longs: Number, enums: String, bytes: Buffer, defaults: true, oneofs: true });
  const grpc = loadPackageDefinition(definition);
  const service = (path: string): ServiceDefinition => {
    let node: unknown = grpc;
    for (const part of path.split('.')) node = (node as GrpcObject)[part];
    return (node as { service: ServiceDefinition }).service;
  };
  loaded = {
    root,
    services: {
      health: service('grpc.health.v1.Health'),
      controller: service('plugin.GRPCController'),
      stdio: service('plugin.GRPCStdio'),
      broker: service('plugin.GRPCBroker'),
      base: service('hashicorp.nomad.plugins.base.proto.BasePlugin'),
      driver: service('hashicorp.nomad.plugins.drivers.proto.Driver'),
    },
  };
  return loaded;
}
