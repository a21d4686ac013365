// Drives Apache Curator's own service discovery (curator-x-discovery 5.4, from Debian's
// libcurator-discovery-java) for the interoperability tests of zk-discovery.
//
//   java CuratorDiscovery CONNECT register NAME ID ADDRESS PORT
//       registers a DYNAMIC instance with a Map payload, prints "registered", and keeps
//       it registered until standard input closes.
//   java CuratorDiscovery CONNECT query NAME
//       prints one line per instance: "instance ID ADDRESS PORT PAYLOAD", then "done".
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.x.discovery.ServiceDiscovery;
import org.apache.curator.x.discovery.ServiceDiscoveryBuilder;
import org.apache.curator.x.discovery.ServiceInstance;
import org.apache.curator.x.discovery.details.JsonInstanceSerializer;

public class CuratorDiscovery {
    @SuppressWarnings({"rawtypes", "unchecked"})
    public static void main(String[] args) throws Exception {
        CuratorFramework client = CuratorFrameworkFactory.newClient(
                args[0], 6000, 6000, new ExponentialBackoffRetry(100, 3));
        client.start();
        client.blockUntilConnected();
        ServiceDiscovery<Map> discovery = ServiceDiscoveryBuilder.builder(Map.class)
                .client(client)
                .basePath("/services")
                .serializer(new JsonInstanceSerializer<>(Map.class))
                .build();
        discovery.start();
        if (args[1].equals("register")) {
            Map<String, Object> payload = new LinkedHashMap<>();
            payload.put("zone", "java-zone");
            payload.put("version", "1.0");
            ServiceInstance<Map> instance = ServiceInstance.<Map>builder()
                    .name(args[2])
                    .id(args[3])
                    .address(args[4])
                    .port(Integer.parseInt(args[5]))
                    .payload(payload)
                    .build();
            discovery.registerService(instance);
            System.out.println("registered");
            System.out.flush();
            while (System.in.read() != -1) {
                // keep the registration until stdin closes
            }
            discovery.close();
        } else {
            Collection<ServiceInstance<Map>> instances = discovery.queryForInstances(args[2]);
            for (ServiceInstance<Map> i : instances) {
                System.out.println("instance " + i.getId() + " " + i.getAddress() + " " + i.getPort()
                        + " " + i.getPayload());
            }
            System.out.println("done");
            discovery.close();
        }
        client.close();
    }
}
