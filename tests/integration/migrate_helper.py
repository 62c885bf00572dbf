#!/usr/bin/env python3
"""Stand-ins for test_migrate.sh's failure cases (docs/migration.md, "Failure safety").

  migrate_helper.py dying-destination PORTFILE   accepts one source, answers its HELLO with a
      valid ACCEPT frame, reads 1 MiB of its pages and exits abruptly (a destination killed
      mid-transfer).
  migrate_helper.py corrupting-proxy PORTFILE TARGET_PORT OFFSET   forwards one connection to
      127.0.0.1:TARGET_PORT both ways, flipping one bit of the source's byte number OFFSET.
  migrate_helper.py garbage PORT   connects and sends bytes that are no migration stream.
Each listener writes the port it bound to PORTFILE.
"""
import os
import socket
import struct
import sys
import threading
import zlib


def listen(portfile):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with open(portfile + ".tmp", "w") as out:
        out.write(str(server.getsockname()[1]))
    os.rename(portfile + ".tmp", portfile)
    connection, _ = server.accept()
    return connection


def read_exact(connection, n):
    data = b""
    while len(data) < n:
        chunk = connection.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def frame(kind, sequence, payload=b""):
    head = b"NMIG" + struct.pack("<HHIII", 1, kind, sequence, len(payload), zlib.crc32(payload))
    return head + struct.pack("<I", zlib.crc32(head)) + payload


def dying_destination(portfile):
    connection = listen(portfile)
    header = read_exact(connection, 24)
    read_exact(connection, struct.unpack("<I", header[12:16])[0])  # HELLO
    connection.sendall(frame(2, 0))                                 # ACCEPT
    read_exact(connection, 1 << 20)
    os._exit(0)


def corrupting_proxy(portfile, target_port, offset):
    source = listen(portfile)
    destination = socket.create_connection(("127.0.0.1", target_port))

    def pump(a, b, flip):
        seen = 0
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                if flip is not None and seen <= flip < seen + len(data):
                    data = bytearray(data)
                    data[flip - seen] ^= 0x10
                    data = bytes(data)
                seen += len(data)
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    back = threading.Thread(target=pump, args=(destination, source, None), daemon=True)
    back.start()
    pump(source, destination, offset)
    back.join(5)


def garbage(port):
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n" + bytes(range(256)) * 4)
    try:
        connection.recv(100)
    except OSError:
        pass


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "dying-destination":
        dying_destination(sys.argv[2])
    elif what == "corrupting-proxy":
        corrupting_proxy(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif what == "garbage":
        garbage(int(sys.argv[2]))
    else:
        sys.exit("unknown helper " + what)
