// The typed client (libs/client) streams request bodies with `duplex: 'half'`, which browsers accept
// but TypeScript's DOM library does not declare yet.
interface RequestInit {
  duplex?: 'half';
}
