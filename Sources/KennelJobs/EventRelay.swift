import Dispatch
import Foundation
import KennelStore
import Logging
import Synchronization

/// Carries job events between the processes that share one PostgreSQL database. What happens here (a worker's
/// metrics, states and checkpoints; a replica's submissions) goes out as notifications on `kennel_events`,
/// batched every 100 ms; what happens elsewhere is published into this process's bus. So an event stream opened
/// on any API replica follows a job trained on any worker. On SQLite, one process has every event already and
/// the relay does nothing.
public final class EventRelay: Sendable {
    public static let channel = "kennel_events"
    /// PostgreSQL caps a notification's payload at 8000 bytes.
    static let payloadLimit = 7_900

    private let store: Store
    private let bus: EventBus
    private let logger: Logger
    private let outgoing = Mutex([JobEvent]())
    private let sending = DispatchQueue(label: "kennel.events.relay")

    public init(store: Store, bus: EventBus, logger: Logger = Logger(label: "kennel.events")) {
        self.store = store
        self.bus = bus
        self.logger = logger
    }

    /// Starts relaying both ways (when the database is shared).
    public func start() throws {
        guard store.engine.notifiesOtherProcesses else { return }
        _ = bus.subscribe(localOnly: true) { event in self.send(event) }
        try store.engine.listen(Self.channel) { payload in
            // A missed notification is a missed live event: streams catch up from the database on reconnect.
            guard let payload else { return }
            self.receive(payload)
        }
    }

    private func send(_ event: JobEvent) {
        let first = outgoing.withLock { events in
            events.append(event)
            return events.count == 1
        }
        if first { sending.asyncAfter(deadline: .now() + .milliseconds(100)) { self.flush() } }
    }

    /// Sends what has gathered, packed into as few notifications as the payload limit allows.
    private func flush() {
        let events = outgoing.withLock { events in
            defer { events.removeAll(keepingCapacity: true) }
            return events
        }
        let encoder = JSONEncoder()
        var payloads: [String] = [], current: [String] = [], size = 2
        for event in events {
            guard let json = try? String(decoding: encoder.encode(event), as: UTF8.self), json.utf8.count < Self.payloadLimit
            else { continue }
            if size + json.utf8.count + 1 > Self.payloadLimit {
                payloads.append("[" + current.joined(separator: ",") + "]")
                current = []
                size = 2
            }
            current.append(json)
            size += json.utf8.count + 1
        }
        if !current.isEmpty { payloads.append("[" + current.joined(separator: ",") + "]") }
        do {
            try store.write { db in
                for payload in payloads { try db.notify(Self.channel, payload) }
            }
        } catch {
            logger.warning("cannot relay \(events.count) job events to other processes: \(error)")
        }
    }

    private func receive(_ payload: String) {
        do {
            for event in try JSONDecoder().decode([JobEvent].self, from: Data(payload.utf8)) {
                bus.publish(event, relayed: true)
            }
        } catch {
            logger.warning("ignoring a malformed job event notification: \(error)")
        }
    }
}
