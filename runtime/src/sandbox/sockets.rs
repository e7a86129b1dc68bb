//! Our `wasi:sockets/tcp-create-socket` and `wasi:sockets/ip-name-lookup`: wasmtime-wasi's
//! implementations with two checks in front (the linker shadows its own with these,
//! [`add_to_linker`]).
//!
//! - Every new TCP socket is a host descriptor: it is counted against the instance's and the
//!   Micro's open-file caps ([`super::fds`]); past a cap the guest gets `new-socket-limit`.
//! - S14: with an `outbound` list, a name is looked up only if the list names it (exactly,
//!   by a `*.` wildcard or `*`), so a guest cannot leak data through DNS queries for names of
//!   its choosing; other names get `access-denied` before any lookup. IP literals are never
//!   looked up and pass. Without a list, lookups go through as before (the connection is
//!   what is checked).
//!
//! It must not decide anything else: connecting, binding and the address checks stay with
//! wasmtime-wasi and the policy in [`super::outbound`].

use wasmtime::component::{HasData, Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    self, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{
    self, ErrorCode, IpAddress, IpAddressFamily, Network,
};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;
use wasmtime_wasi::p2::{DynPollable, SocketError, SocketResult, TcpSocket};
use wasmtime_wasi::sockets::WasiSocketsCtxView;

use super::fds::Fds;
use super::outbound::Outbound;

/// What our socket hosts borrow from a store: wasmtime-wasi's sockets view, the instance's
/// descriptor count and the Micro's outbound policy.
pub struct SocketsView<'a> {
    pub sockets: WasiSocketsCtxView<'a>,
    pub fds: &'a mut Fds,
    pub policy: &'a Outbound,
    pub micro: &'a str,
}

/// The [`HasData`] marker of our socket hosts.
struct Sockets;

impl HasData for Sockets {
    type Data<'a> = SocketsView<'a>;
}

/// Replaces wasmtime-wasi's `tcp-create-socket` and `ip-name-lookup` in `linker` (already
/// holding `wasmtime_wasi::p2::add_to_linker_async`) with ours. Shadowing is allowed for
/// this call only.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> SocketsView<'_>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let result = tcp_create_socket::add_to_linker::<T, Sockets>(linker, view)
        .and_then(|()| ip_name_lookup::add_to_linker::<T, Sockets>(linker, view));
    linker.allow_shadowing(false);
    result
}

/// `wasi:sockets/network`, which both interfaces need (its error conversions), forwarded.
impl network::Host for SocketsView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.sockets, error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.sockets, err)
    }
}

impl network::HostNetwork for SocketsView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.sockets, this)
    }
}

impl tcp_create_socket::Host for SocketsView<'_> {
    fn create_tcp_socket(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<TcpSocket>> {
        let guard = self
            .fds
            .take(self.sockets.table)
            .map_err(|_| ErrorCode::NewSocketLimit)?;
        let socket = tcp_create_socket::Host::create_tcp_socket(&mut self.sockets, address_family)?;
        self.fds.hold_socket(socket.rep(), guard);
        Ok(socket)
    }
}

impl ip_name_lookup::Host for SocketsView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> Result<Resource<ResolveAddressStream>, SocketError> {
        if !self.policy.may_look_up(&name) {
            tracing::warn!(
                micro = %self.micro,
                "name lookup of `{}` denied (S14): not on the outbound list; not looked up",
                name.escape_debug()
            );
            return Err(ErrorCode::AccessDenied.into());
        }
        ip_name_lookup::Host::resolve_addresses(&mut self.sockets, network, name)
    }
}

impl HostResolveAddressStream for SocketsView<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> Result<Option<IpAddress>, SocketError> {
        HostResolveAddressStream::resolve_next_address(&mut self.sockets, stream)
    }

    fn subscribe(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        HostResolveAddressStream::subscribe(&mut self.sockets, stream)
    }

    fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        HostResolveAddressStream::drop(&mut self.sockets, stream)
    }
}
