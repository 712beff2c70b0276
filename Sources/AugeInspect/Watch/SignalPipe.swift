import Foundation

/// Turns SIGINT, SIGTERM and SIGHUP into bytes on a pipe (the self-pipe trick), so the watcher's
/// blocking wait wakes up and the signal is handled between photos, never in the middle of one.
final class SignalPipe {
    let readDescriptor: Int32

    /// One process-wide pipe: a C signal handler can reach only global state.
    nonisolated(unsafe) private static var writeDescriptor: Int32 = -1
    nonisolated(unsafe) private static var shared: SignalPipe?

    private init(readDescriptor: Int32) { self.readDescriptor = readDescriptor }

    static func install() throws -> SignalPipe {
        if let shared { return shared }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw WatchError(description: "cannot create a pipe for signals") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        writeDescriptor = fds[1]
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            signal(signalNumber) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(SignalPipe.writeDescriptor, &byte, 1)  // async-signal-safe
            }
        }
        let created = SignalPipe(readDescriptor: fds[0])
        shared = created
        return created
    }

    /// The signals received since the last call, in order.
    func drain() -> [Int32] {
        var received: [Int32] = []
        var byte: UInt8 = 0
        while read(readDescriptor, &byte, 1) == 1 { received.append(Int32(byte)) }
        return received
    }
}
